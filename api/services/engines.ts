import { hasScope, isAdmin, type Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import { caCertificateProblem, connectionUrlProblem } from '../../engine/connection-url';
import { readRootCredential, testConnection, TargetError, type TargetPools } from '../../engine/target-pools';
import type { Stores } from '../../store';
import type { EngineFields, EngineRecord } from '../../store/engines';
import type { Authorizer } from '../auth';
import type { Client } from '@temporalio/client';
import { rootRotationWorkflowId, type RootRotationOutcome } from '../../lib/root-rotation-activities';
import type { rootRotationWorkflow } from '../../workflows/root-rotation';
import { TimedOut, withinDeadline } from './temporal-calls';
import { refusal } from './refusal';
import { auditEntry } from './audit-entry';

export interface EngineInput {
  name: string;
  connection_url: string;
  /** PEM; null or absent: no CA of the engine's own (verify-full then uses the system's roots). */
  ca_certificate: string | null;
  root_credentials_path: string;
  credentials_cache_ttl: number;
  statement_timeout: number;
  lock_timeout: number;
  default_ttl: number;
  max_ttl: number;
}

export const DEFAULT_CREDENTIALS_CACHE_TTL = 30;
/** Below the activities' 30 s, so the database cancels a statement before Temporal gives up on it. */
export const DEFAULT_STATEMENT_TIMEOUT = 10;
export const DEFAULT_LOCK_TIMEOUT = 5;
export const MAX_STATEMENT_TIMEOUT = 25;

/** The engine as the API shows it: never the root password. */
export function engineView(e: EngineRecord) {
  return {
    name: e.name,
    type: 'database' as const,
    config: {
      plugin: e.plugin,
      connection_url: e.connection_url,
      ...(e.ca_certificate ? { ca_certificate: e.ca_certificate } : {}),
      root_credentials_path: e.root_credentials_path,
      credentials_cache_ttl: e.credentials_cache_ttl,
      statement_timeout: e.statement_timeout,
      lock_timeout: e.lock_timeout,
    },
    default_ttl: e.default_ttl,
    max_ttl: e.max_ttl,
    connection_status: e.connection_status,
    ...(e.last_error ? { last_error: e.last_error } : {}),
    created_at: e.created_at.toISOString(),
    updated_at: e.updated_at.toISOString(),
  };
}

/** How the engine service reaches its workflows. */
export interface EngineTemporal {
  client: Client;
  taskQueue: string;
  waitMs: number;
}

/** An engine change as the audit log records it. */
export const engineAuditEntry = (actor: Identity, name: string, extra: Record<string, unknown>) =>
  auditEntry(actor, 'engine_write', `dynamic/engines/${name}`, extra);

export function createEngineService(
  stores: Pick<Stores, 'audit' | 'audited' | 'engines' | 'secrets'>,
  targets: TargetPools,
  authorizer: Authorizer,
  temporal: EngineTemporal,
) {
  /**
   * Where the engine connects, and with which secret, decides where the root password is sent: whoever
   * sets either must be able to read that secret anyway (admin, or `secrets:read` with a policy granting
   * `read` on the path). Otherwise an engine operator could point the test connection at a server of
   * their own and receive the root password.
   */
  async function guardRootCredentialUse(actor: Identity, engine: string, secretPath: string) {
    if (isAdmin(actor) || (hasScope(actor, 'secrets:read') && (await authorizer.allows(actor, 'read', secretPath))))
      return;
    const reason =
      'setting connection_url or root_credentials_path sends the root credential at ' +
      `${secretPath}: it needs read on that path`;
    throw await refusal(stores.audit, actor, `dynamic/engines/${engine}`, reason, {
      root_credentials_path: secretPath,
    });
  }

  /** Validates the config and opens a test connection; a failure is 400 invalid_config in the database's words. */
  async function checked(input: EngineInput): Promise<EngineFields> {
    if (input.default_ttl > input.max_ttl) throw new ApiError('invalid_config', 'default_ttl must not exceed max_ttl');
    if (input.lock_timeout > input.statement_timeout)
      throw new ApiError('invalid_config', 'lock_timeout must not exceed statement_timeout');
    const urlProblem =
      connectionUrlProblem(input.connection_url) ??
      (input.ca_certificate ? caCertificateProblem(input.ca_certificate) : undefined);
    if (urlProblem) throw new ApiError('invalid_config', urlProblem);
    let credential;
    try {
      ({ credential } = await readRootCredential(stores.secrets, input));
    } catch (error) {
      if (error instanceof TargetError) throw new ApiError('invalid_config', error.message);
      throw error;
    }
    const failure = await testConnection(input, credential);
    if (failure) throw new ApiError('invalid_config', `test connection failed: ${failure}`);
    return { ...input, plugin: 'postgresql', connection_status: 'healthy', last_error: null };
  }

  async function mustGet(name: string) {
    const engine = await stores.engines.get(name);
    if (!engine) throw notFound(`engine ${name}`);
    return engine;
  }

  return {
    mustGet,

    async create(actor: Identity, input: EngineInput) {
      await guardRootCredentialUse(actor, input.name, input.root_credentials_path);
      if (await stores.engines.get(input.name)) throw new ApiError('conflict', `engine ${input.name} already exists`);
      // A deleted engine of that name whose leases are all revoked gives way; one still revoking does not.
      const tombstone = await stores.engines.getForRevocation(input.name);
      if (tombstone && !(await stores.engines.purgeTombstone(input.name))) {
        throw new ApiError(
          'conflict',
          `engine ${input.name} was deleted and its leases are still being revoked; DELETE it again or wait`,
        );
      }
      if (tombstone) await targets.drop(input.name);
      const fields = await checked(input);
      const created = await stores.audited(
        (tx) => stores.engines.within(tx).create(fields),
        (done) => (done ? engineAuditEntry(actor, input.name, { operation: 'create' }) : undefined),
      );
      if (!created) throw new ApiError('conflict', `engine ${input.name} already exists`);
      return engineView((await stores.engines.get(input.name))!);
    },

    async update(actor: Identity, name: string, patch: Partial<Omit<EngineInput, 'name'>>) {
      const current = await mustGet(name);
      const next = { ...current, ...patch, name };
      if (
        next.connection_url !== current.connection_url ||
        next.root_credentials_path !== current.root_credentials_path ||
        next.ca_certificate !== current.ca_certificate
      ) {
        await guardRootCredentialUse(actor, name, next.root_credentials_path);
      }
      const fields = await checked(next);
      await stores.audited(
        (tx) => stores.engines.within(tx).update(fields),
        engineAuditEntry(actor, name, { operation: 'update' }),
      );
      await targets.drop(name);
      return engineView((await stores.engines.get(name))!);
    },

    /** The engine with a live connection check, so `connection_status` is true now, not at creation. */
    async get(name: string) {
      const engine = await mustGet(name);
      let failure: string | undefined;
      try {
        failure = await testConnection(engine, (await readRootCredential(stores.secrets, engine)).credential);
      } catch (error) {
        failure = error instanceof TargetError ? error.message : 'root credential unreadable';
      }
      await stores.engines.setStatus(name, failure ? 'unhealthy' : 'healthy', failure ?? null);
      return engineView({
        ...engine,
        connection_status: failure ? 'unhealthy' : 'healthy',
        last_error: failure ?? null,
      });
    },

    list: async () => (await stores.engines.list()).map(engineView),

    /**
     * The engine changes its own root password, as a workflow (workflows/root-rotation.ts) that carries
     * on through crashes; this call waits for it as long as lease calls wait for a worker. A second call
     * while one runs joins it.
     */
    async rotateRoot(actor: Identity, name: string) {
      const engine = await mustGet(name);
      try {
        await readRootCredential(stores.secrets, engine);
      } catch (error) {
        if (error instanceof TargetError) throw new ApiError('invalid_config', error.message);
        throw error;
      }
      let outcome: RootRotationOutcome;
      try {
        outcome = await withinDeadline(temporal.client, temporal.waitMs, () =>
          temporal.client.workflow.execute<typeof rootRotationWorkflow>('rootRotationWorkflow', {
            workflowId: rootRotationWorkflowId(temporal.taskQueue, name),
            taskQueue: temporal.taskQueue,
            args: [{ engine: name, requestedBy: actor.identity_id }],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        );
      } catch (error) {
        if (error instanceof TimedOut) {
          throw new ApiError(
            'engine_unavailable',
            `no worker finished the rotation within ${Math.round(temporal.waitMs / 1000)}s; ` +
              `it completes once one runs (GET /v1/rotation/secrets/${engine.root_credentials_path})`,
          );
        }
        throw error;
      }
      if (outcome.state === 'busy')
        throw new ApiError('conflict', `a rotation of ${engine.root_credentials_path} is in progress`, {
          rotation_id: outcome.rotationId,
        });
      if (outcome.state === 'failed')
        throw new ApiError('engine_unavailable', `the database refused the new root password: ${outcome.error}`);
      await targets.drop(name);
      return engineView((await stores.engines.get(name))!);
    },
  };
}

export type EngineService = ReturnType<typeof createEngineService>;
