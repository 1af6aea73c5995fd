import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { credsPath, isAdmin, type Identity, type Permission } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import { fillConnectionUrl } from '../../engine/connection-url';
import { isFinished, type LeaseSpec, type LeaseState, type LeaseView } from '../../lib/lease';
import type { LeasePasswordSeal } from '../../lib/lease-password';
import { leaseMetrics } from '../../lib/metrics';
import { newLeaseId } from '../../lib/random';
import { leaseSearchAttributes } from '../../lib/search-attributes';
import { generateUsername } from '../../lib/templates';
import type { Stores } from '../../store';
import type { LeaseRecord } from '../../store/leases';
import { abandonSignal, issueUpdate, LeaseErrors, renewUpdate, revokeUpdate } from '../../workflows/lease-messages';
import type { leaseWorkflowV2 } from '../../workflows/lease';
import type { EngineService } from './engines';
import type { Authorizer } from '../auth';
import { refusal } from './refusal';
import { decodeCursor, encodeCursor, type Page, type PageQuery } from '../../lib/pagination';
import { DEFAULT_WAIT_MS, failureMessage, failureType, TimedOut, withinDeadline } from './temporal-calls';
import type { RoleService } from './roles';
import { auditEntry } from './audit-entry';

const REVOKE_PARALLELISM = 16;

/** A lease as the API shows it. */
export function leaseView(l: LeaseRecord | LeaseView) {
  if ('lease_id' in l) {
    return {
      lease_id: l.lease_id,
      engine: l.engine,
      role: l.role,
      username: l.username,
      state: l.state,
      issued_at: l.issued_at.toISOString(),
      expires_at: l.expires_at.toISOString(),
      max_expires_at: l.max_expires_at.toISOString(),
      revoked_at: l.revoked_at?.toISOString() ?? null,
      identity_id: l.identity_id,
      metadata: l.metadata,
      last_error: l.last_error,
      ...(l.forced ? { forced: true } : {}),
    };
  }
  return {
    lease_id: l.leaseId,
    engine: l.engine,
    role: l.role,
    username: l.username,
    state: l.state,
    issued_at: l.issuedAt,
    expires_at: l.expiresAt,
    max_expires_at: l.maxExpiresAt,
    revoked_at: l.revokedAt ?? null,
    identity_id: l.identityId,
    metadata: l.metadata,
    last_error: l.lastError ?? null,
    ...(l.forced ? { forced: true } : {}),
  };
}
export type LeaseJson = ReturnType<typeof leaseView>;

const secondsUntil = (iso: string) => Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));

const isGoneWorkflow = (error: unknown) =>
  error instanceof WorkflowNotFoundError ||
  (error instanceof Error && /workflow execution already completed|not found/i.test(error.message));

export interface LeaseServiceDeps {
  stores: Pick<Stores, 'audit' | 'leases'>;
  temporal: Client;
  taskQueue: string;
  engines: EngineService;
  roles: RoleService;
  authorizer: Pick<Authorizer, 'allows'>;
  /** Opens the issued password the workflow hands back sealed. */
  passwords: Pick<LeasePasswordSeal, 'open'>;
  /** How long a caller waits for a worker to issue or revoke before the API answers without it. */
  waitMs?: number;
}

export function createLeaseService({
  stores,
  temporal,
  taskQueue,
  engines,
  roles,
  authorizer,
  passwords,
  waitMs = DEFAULT_WAIT_MS,
}: LeaseServiceDeps) {
  /**
   * Whether the actor holds `permission` on a lease's creds path, `dynamic/<engine>/creds/<role>`: what a
   * lease is checked against wherever it is reached, listed one by one or revoked in bulk. Memoized per call.
   */
  const permittedOn = (actor: Identity, permission: Permission) => {
    const known = new Map<string, Promise<boolean>>();
    return (lease: { engine: string; role: string }) => {
      const path = credsPath(lease.engine, lease.role);
      if (!known.has(path))
        known.set(path, isAdmin(actor) ? Promise.resolve(true) : authorizer.allows(actor, permission, path));
      return known.get(path)!;
    };
  };

  /** Asks for revocation durably, without waiting: it happens as soon as a worker runs the lease. */
  const abandon = (leaseId: string) =>
    temporal.workflow
      .getHandle(leaseId)
      .signal(abandonSignal)
      .catch(() => {});

  const audit = (
    actor: Identity,
    action: string,
    lease: { engine: string; role: string; lease_id: string },
    extra: Record<string, unknown> = {},
  ) =>
    stores.audit.append(
      auditEntry(actor, action, credsPath(lease.engine, lease.role), { lease_id: lease.lease_id, ...extra }),
    );

  async function mustGet(leaseId: string) {
    const lease = await stores.leases.get(leaseId);
    if (!lease) throw notFound(`lease ${leaseId}`);
    return lease;
  }

  /** Revokes one lease and waits for the outcome: the view once the role is gone, or as it is after a failed try. */
  async function revokeOne(lease: LeaseRecord, force: boolean): Promise<ReturnType<typeof leaseView>> {
    if (isFinished(lease.state)) return leaseView(lease);
    try {
      return leaseView(
        await withinDeadline(temporal, waitMs, () =>
          temporal.workflow.getHandle(lease.lease_id).executeUpdate(revokeUpdate, { args: [{ force }] }),
        ),
      );
    } catch (error) {
      if (error instanceof TimedOut) {
        await abandon(lease.lease_id);
        return {
          ...leaseView(lease),
          state: 'revoking' as const,
          last_error: 'no worker answered in time; the revocation is queued and will run when one does',
        };
      }
      if (isGoneWorkflow(error)) return leaseView(await mustGet(lease.lease_id));
      throw new ApiError('engine_unavailable', `revocation could not be requested: ${failureMessage(error)}`);
    }
  }

  const service = {
    /** Mints credentials: one workflow per lease, started and answered in one round trip (update-with-start). */
    async issue(
      actor: Identity,
      engineName: string,
      roleName: string,
      body: { ttl?: number; metadata?: Record<string, string> },
    ) {
      const { engine, role } = await roles.mustGetWithEngine(engineName, roleName);
      const maxTtl = Math.min(role.max_ttl, engine.max_ttl);
      const warnings: string[] = [];
      let ttl = body.ttl ?? Math.min(role.default_ttl, maxTtl);
      if (ttl > maxTtl) {
        warnings.push(`requested ttl of ${ttl}s is more than the max of ${maxTtl}s; capped at ${maxTtl}s`);
        ttl = maxTtl;
      }
      if (ttl <= 0) throw new ApiError('invalid_request', 'ttl must be at least 1 second');
      const spec: LeaseSpec = {
        leaseId: newLeaseId(),
        engine: engineName,
        role: roleName,
        username: generateUsername(role.username_template, roleName, engineName),
        identityId: actor.identity_id,
        metadata: body.metadata ?? {},
        ttlSeconds: ttl,
        maxTtlSeconds: maxTtl,
        defaultIncrementSeconds: Math.min(role.default_ttl, maxTtl),
        statements: {
          creation: role.creation_statements,
          revocation: role.revocation_statements,
          renew: role.renew_statements,
        },
      };
      const start = new WithStartWorkflowOperation<typeof leaseWorkflowV2>('leaseWorkflowV2', {
        workflowId: spec.leaseId,
        taskQueue,
        args: [{ spec }],
        workflowIdConflictPolicy: 'FAIL',
        // Indexed from the start (the expiry is an estimate until the workflow records the real one).
        typedSearchAttributes: leaseSearchAttributes(spec, {
          state: 'active',
          expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
        }),
        memo: { identity_id: spec.identityId, metadata: spec.metadata },
      });
      let issued;
      const minted = leaseMetrics.startMint(spec);
      try {
        issued = await withinDeadline(temporal, waitMs, () =>
          temporal.workflow.executeUpdateWithStart(issueUpdate, { startWorkflowOperation: start }),
        );
        minted('success');
      } catch (error) {
        minted('failure');
        if (error instanceof TimedOut) {
          // The lease may still be issued once a worker runs it; no one will hold its credential, so revoke it then.
          await abandon(spec.leaseId);
          throw new ApiError(
            'engine_unavailable',
            `no worker issued the credentials within ${Math.round(waitMs / 1000)}s; try again`,
          );
        }
        throw new ApiError(
          'engine_unavailable',
          `engine ${engineName} could not issue credentials: ${failureMessage(error)}`,
        );
      }
      const lease = issued.lease;
      try {
        await audit(
          actor,
          'dynamic_generate',
          { engine: engineName, role: roleName, lease_id: spec.leaseId },
          { username: spec.username, ttl },
        );
      } catch (error) {
        // An unrecorded credential must not be handed out, nor left alive: revoke it, then fail.
        await abandon(spec.leaseId);
        throw error;
      }
      const password = passwords.open(issued.password, spec.leaseId);
      return {
        lease_id: spec.leaseId,
        lease_duration: spec.ttlSeconds,
        renewable: true,
        expires_at: lease.expiresAt,
        data: {
          username: spec.username,
          password,
          connection_url: fillConnectionUrl(engine.connection_url, { username: spec.username, password }),
        },
        ...(warnings.length ? { warnings } : {}),
      };
    },

    /**
     * A page of the leases whose creds path the actor may `list`, whatever the engine, newest first. Leases
     * the actor may not see are skipped, so a page is full unless it is the last.
     */
    async list(
      actor: Identity,
      filter: { engine?: string; role?: string; state?: LeaseState },
      { limit, cursor }: PageQuery,
    ): Promise<Page<LeaseJson>> {
      const visible = permittedOn(actor, 'list');
      const keyOf = (l: LeaseRecord): [string, string] => [l.issued_at.toISOString(), l.lease_id];
      let after = cursor === undefined ? undefined : (decodeCursor(cursor, ['string', 'string']) as [string, string]);
      const shown: LeaseRecord[] = [];
      for (;;) {
        const rows = await stores.leases.page(filter, limit + 1, after);
        const seen = await Promise.all(rows.map(visible));
        for (const [i, row] of rows.entries()) {
          if (!seen[i]) continue;
          if (shown.length === limit)
            return { data: shown.map(leaseView), next_cursor: encodeCursor(keyOf(shown[shown.length - 1]!)) };
          shown.push(row);
        }
        if (rows.length <= limit) return { data: shown.map(leaseView), next_cursor: null };
        after = keyOf(rows[rows.length - 1]!);
      }
    },

    /** The lease's record, or not_found: what a route reads once and hands to the calls below. */
    mustGet,

    /** Extends from now by `increment` (default: the role's default_ttl), capped at the lease's max. */
    async renew(actor: Identity, lease: LeaseRecord, incrementSeconds?: number) {
      const leaseId = lease.lease_id;
      if (lease.state !== 'active') throw new ApiError('conflict', `lease is ${lease.state}; it cannot be renewed`);
      let result;
      try {
        result = await withinDeadline(temporal, waitMs, () =>
          temporal.workflow
            .getHandle(leaseId)
            .executeUpdate(renewUpdate, { args: [{ incrementSeconds, requestedBy: actor.identity_id }] }),
        );
        leaseMetrics.renewed(lease, 'success');
      } catch (error) {
        leaseMetrics.renewed(lease, 'failure');
        if (error instanceof TimedOut)
          throw new ApiError('engine_unavailable', 'no worker answered the renewal in time; try again');
        const type = failureType(error);
        if (type === LeaseErrors.maxTtlExceeded) throw new ApiError('max_ttl_exceeded', failureMessage(error));
        if (type === LeaseErrors.invalidIncrement) throw new ApiError('invalid_request', failureMessage(error));
        if (type === LeaseErrors.notActive || isGoneWorkflow(error))
          throw new ApiError('conflict', `lease ${leaseId} is no longer active`);
        throw new ApiError('engine_unavailable', `renewal failed: ${failureMessage(error)}`);
      }
      // The renewal's audit entry is committed with the lease's new expiry, by the activity that renews it.
      return {
        ...leaseView(result.lease),
        lease_duration: result.grantedSeconds ?? secondsUntil(result.lease.expiresAt),
        renewable: true,
        warnings: result.warnings,
      };
    },

    /** Revokes and waits until the role is gone; `complete` is false when the first try failed and retries go on. */
    async revoke(actor: Identity, lease: LeaseRecord, force = false) {
      const view = await revokeOne(lease, force).catch((error) => {
        leaseMetrics.revoked(lease, 'error');
        throw error;
      });
      if (!isFinished(lease.state)) {
        leaseMetrics.revoked(lease, view.forced ? 'forced' : view.state);
        await audit(actor, 'dynamic_revoke', lease, { outcome: view.state, ...(force ? { force } : {}) });
      }
      return { lease: view, complete: isFinished(view.state) };
    },

    /**
     * Asks for the revocation and answers at once: the request is durable (a signal the workflow takes
     * whenever a worker runs), the role is gone moments later. For shutdown hooks, which cannot wait.
     */
    async requestRevocation(actor: Identity, lease: LeaseRecord) {
      const leaseId = lease.lease_id;
      if (isFinished(lease.state)) return { lease: leaseView(lease), requested: false };
      // The revocation's audit entry is written by the workflow, with the lease's end, for `requestedBy`.
      await withinDeadline(temporal, waitMs, () =>
        temporal.workflow.getHandle(leaseId).signal(abandonSignal, { requestedBy: actor.identity_id }),
      ).catch((error) => {
        if (error instanceof TimedOut)
          throw new ApiError('engine_unavailable', 'Temporal did not take the revocation request in time; try again');
        if (isGoneWorkflow(error)) return; // the workflow ended meanwhile: nothing left to revoke
        throw error;
      });
      return { lease: { ...leaseView(lease), state: 'revoking' as const }, requested: true };
    },

    /** Revokes many leases with bounded parallelism; reports those whose role is not gone yet. */
    async revokeMany(actor: Identity, leases: LeaseRecord[]) {
      const revoked: string[] = [];
      const pending: string[] = [];
      const queue = [...leases];
      const worker = async () => {
        for (let lease = queue.shift(); lease; lease = queue.shift()) {
          const { complete } = await service.revoke(actor, lease).catch(() => ({ complete: false }));
          (complete ? revoked : pending).push(lease.lease_id);
        }
      };
      await Promise.all(Array.from({ length: REVOKE_PARALLELISM }, worker));
      return { revoked, pending };
    },

    /**
     * Every live lease of the engine (or role); refused as a whole unless the actor may revoke on each one's
     * creds path.
     */
    async revokePrefix(actor: Identity, engine: string, role?: string) {
      await engines.mustGet(engine);
      const live = await stores.leases.unfinished({ engine, role });
      const revocable = permittedOn(actor, 'revoke');
      const refused = [
        ...new Set(
          (
            await Promise.all(live.map(async (l) => ((await revocable(l)) ? undefined : credsPath(l.engine, l.role))))
          ).filter((p) => p !== undefined),
        ),
      ];
      if (refused.length) {
        throw await refusal(
          stores.audit,
          actor,
          refused[0]!,
          `no policy grants revoke on ${refused.join(', ')}; nothing was revoked`,
          { permission: 'revoke', prefix: { engine, role } },
        );
      }
      return service.revokeMany(actor, live);
    },
  };
  return service;
}

export type LeaseService = ReturnType<typeof createLeaseService>;
