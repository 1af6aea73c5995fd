import { ApplicationFailure } from '@temporalio/activity';
import { ENGINE_IDENTITY } from '../lib/access';
import { ended, type LeaseProgress, type LeaseSpec } from '../lib/lease';
import { endingAudit, type LeaseActivities, type LeaseAuditEvent } from '../lib/lease-activities';
import { ActivityErrors } from '../lib/lease-activities';
import { leaseMetrics } from '../lib/metrics';
import type { LeasePasswordSeal } from '../lib/lease-password';
import { generatePassword } from '../lib/random';
import { scramVerifier } from '../lib/scram';
import { formatExpiration } from '../lib/templates';
import { createRole, dropRole, applyRoleStatements, leaseMarker, StatementError } from '../engine/statements';
import { EngineGone, type TargetPools } from '../engine/target-pools';
import type { Stores } from '../store';
import type { AuditEntry } from '../store/audit';
import { activityEventKey } from './audit-key';

export interface LeaseActivityDeps {
  targets: TargetPools;
  stores: Pick<Stores, 'leases' | 'roles' | 'audited'>;
  /** This store's id, written into each role's marker so the reconciler knows its own roles. */
  storeId: string;
  /** Seals the issued password for its trip through Temporal (the codec endpoint cannot open it). */
  passwords: Pick<LeasePasswordSeal, 'seal'>;
}

/** A statement the database rejected will be rejected again: fail without retrying. */
function rethrow(error: unknown): never {
  if (error instanceof StatementError) {
    const { statementIndex, sqlstate, message } = error.failure;
    throw ApplicationFailure.nonRetryable(
      `statement ${statementIndex} failed (${sqlstate ?? 'no sqlstate'}): ${message}`,
      ActivityErrors.statementFailed,
    );
  }
  throw error;
}

const credsPath = (spec: LeaseSpec) => `dynamic/${spec.engine}/creds/${spec.role}`;

export function createLeaseActivities({ targets, stores, storeId, passwords }: LeaseActivityDeps): LeaseActivities {
  const { leases, roles } = stores;
  /** The lease's row and the audit entry for what happened to it, committed together (a row alone: one statement). */
  const recordWith = (spec: LeaseSpec, progress: LeaseProgress, entry?: AuditEntry) =>
    entry
      ? stores.audited(
          (tx) => leases.within(tx).upsert(spec, progress),
          () => entry,
        )
      : leases.upsert(spec, progress);

  async function revoke(spec: LeaseSpec) {
    // The role's current revocation statements, so an operator can mend a failing revocation by fixing
    // the role; the snapshot taken at issue when the role is gone.
    const statements = (await roles.get(spec.engine, spec.role))?.revocation_statements ?? spec.statements.revocation;
    const outcome = await targets.withClient(spec.engine, (client) => dropRole(client, statements, spec.username));
    return {
      roleGone: outcome.roleGone,
      errors: outcome.errors.map(
        (f) =>
          `${f.statementIndex >= 0 ? `statement ${f.statementIndex}` : 'session cleanup'}: ${f.message}` +
          (f.hint ? ` (hint: ${f.hint})` : ''),
      ),
    };
  }

  async function recordState(spec: LeaseSpec, progress: LeaseProgress, event?: LeaseAuditEvent) {
    await recordWith(
      spec,
      progress,
      event && {
        identity_id: event.identityId ?? (event.action === 'dynamic_expire' ? ENGINE_IDENTITY : spec.identityId),
        action: event.action,
        path: credsPath(spec),
        result: event.result,
        extra_data: {
          lease_id: spec.leaseId,
          username: spec.username,
          ...(event.error ? { error: event.error } : {}),
          ...(event.identityId ? { outcome: 'revoked', requested: 'without waiting' } : {}),
        },
        idempotency_key: activityEventKey(event.action),
      },
    );
    if (event?.action === 'dynamic_expire' && event.result === 'success') leaseMetrics.expired(spec);
  }

  return {
    async createCredential({ spec, progress }) {
      const password = generatePassword();
      // Postgres is sent a SCRAM verifier, never the password, so statement logs hold nothing usable.
      const verifier = await scramVerifier(password);
      const values = {
        name: spec.username,
        password: verifier,
        expiration: formatExpiration(new Date(progress.expiresAt)),
      };
      const marker = leaseMarker({ leaseId: spec.leaseId, engine: spec.engine, storeId, issuedAt: progress.issuedAt });
      await targets.withClient(spec.engine, async (client) => {
        await createRole(client, spec.statements.creation, values, marker).catch(rethrow);
        if (await leases.recordIssued(spec, progress)) return;
        // The engine was deleted meanwhile: its deletion revokes the leases it finds and will not find this
        // one, so the role goes here, on the connection in hand (the engine's may close once it is gone).
        const { roleGone, errors } = await dropRole(client, spec.statements.revocation, spec.username);
        if (!roleGone) {
          const why = errors.map((e) => e.message).join('; ');
          throw new Error(`engine ${spec.engine} was deleted; ${spec.username} is not dropped yet: ${why}`);
        }
        throw ApplicationFailure.nonRetryable(`engine ${spec.engine} was deleted`, ActivityErrors.engineGone);
      });
      return { password: passwords.seal(password, spec.leaseId) };
    },

    async renewCredential({ spec, progress, requestedBy }) {
      const values = { name: spec.username, expiration: formatExpiration(new Date(progress.expiresAt)) };
      await targets
        .withClient(spec.engine, (client) => applyRoleStatements(client, spec.statements.renew, values))
        .catch(rethrow);
      await recordWith(spec, progress, {
        identity_id: requestedBy ?? spec.identityId,
        action: 'dynamic_renew',
        path: credsPath(spec),
        result: 'success',
        extra_data: { lease_id: spec.leaseId, expires_at: progress.expiresAt },
        idempotency_key: activityEventKey('dynamic_renew'),
      });
    },

    revokeCredential: ({ spec }) => revoke(spec),

    async revokeAndRecord({ spec, progress, record, requestedBy }) {
      let outcome;
      try {
        outcome = await revoke(spec);
      } catch (error) {
        if (!(error instanceof EngineGone)) throw error;
        // Nothing can reach the database any more: a final outcome, recorded once, not retried forever.
        const lastError =
          `engine ${spec.engine} was deleted; ` + `its database could not be reached to drop ${spec.username}`;
        const next: LeaseProgress = { ...ended(progress, Date.now()), lastError };
        if (record)
          await recordState(spec, next, {
            action: endingAudit(progress, lastError)!.action,
            result: 'failure',
            error: lastError,
          });
        return { roleGone: false, engineGone: true, progress: next };
      }
      if (outcome.roleGone) {
        const next: LeaseProgress = { ...ended(progress, Date.now()), lastError: undefined };
        const asked: LeaseAuditEvent | undefined = requestedBy
          ? { action: 'dynamic_revoke', result: 'success', identityId: requestedBy }
          : undefined;
        if (record) await recordState(spec, next, endingAudit(progress) ?? asked);
        return { roleGone: true, progress: next };
      }
      const lastError = outcome.errors.join('; ') || 'the role still exists after the revocation statements';
      if (progress.state === 'revocation_failed' && progress.lastError === lastError)
        return { roleGone: false, progress };
      const next: LeaseProgress = { ...progress, state: 'revocation_failed', lastError };
      if (record) await recordState(spec, next, endingAudit(progress, lastError));
      return { roleGone: false, progress: next };
    },

    recordLeaseState: ({ spec, progress, audit: event }) => recordState(spec, progress, event),
  };
}
