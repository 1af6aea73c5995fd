import { ApplicationFailure } from '@temporalio/activity';
import { scrub } from '../engine/connection-url';
import { describe, type TargetPools } from '../engine/target-pools';
import { generatePassword } from '../lib/random';
import type { RootRotationActivities } from '../lib/root-rotation-activities';
import { scramVerifier } from '../lib/scram';
import type { Stores } from '../store';
import type { EngineRecord } from '../store/engines';

export interface RootRotationActivityDeps {
  stores: Pick<Stores, 'engines' | 'secrets' | 'rotation' | 'audited' | 'atomically'>;
  targets: Pick<TargetPools, 'withClient' | 'drop'>;
}

const credentialOf = (data: Record<string, unknown>) => ({
  username: String(data.username),
  password: String(data.password),
});

export function createRootRotationActivities({ stores, targets }: RootRotationActivityDeps): RootRotationActivities {
  const { engines, secrets, rotation } = stores;

  async function mustEngine(name: string): Promise<EngineRecord> {
    const engine = await engines.get(name);
    if (!engine) throw ApplicationFailure.nonRetryable(`engine ${name} does not exist`, 'EngineGone');
    return engine;
  }

  const entry = (engine: string, identity: string, result: 'success' | 'failure', extra: Record<string, unknown>) => ({
    identity_id: identity,
    action: 'engine_write',
    path: `dynamic/engines/${engine}`,
    result,
    extra_data: { operation: 'rotate_root', ...extra },
    idempotency_key: `rotation:${String(extra.rotation_id)}:rotate_root`,
  });

  return {
    async beginRootRotation({ engine: name, requestedBy, rotationId, workflowId }) {
      const engine = await engines.get(name);
      if (!engine) return { outcome: 'failed', error: `engine ${name} does not exist` };
      const path = engine.root_credentials_path;
      const current = await secrets.get(path);
      if (!current || typeof current.data.username !== 'string' || typeof current.data.password !== 'string') {
        return { outcome: 'failed', error: `the secret at ${path} must hold string fields "username" and "password"` };
      }
      const inProgress = await rotation.inProgress(path);
      if (inProgress && inProgress.rotation_id !== rotationId) {
        // A rotate-root whose process stopped part-way is carried on; any other rotation keeps the path.
        if (inProgress.trigger !== 'rotate_root') return { outcome: 'busy', rotationId: inProgress.rotation_id };
        if (inProgress.new_version !== null && (await secrets.pending(path))?.version === inProgress.new_version) {
          await rotation.update(inProgress.rotation_id, { workflow_id: workflowId });
          return { outcome: 'started', rotationId: inProgress.rotation_id };
        }
        await rotation.update(inProgress.rotation_id, {
          state: 'failed',
          finished_at: new Date(),
          last_error: 'abandoned before its pending version was written',
        });
      }
      const existing = await rotation.get(rotationId);
      if (existing?.new_version != null) return { outcome: 'started', rotationId };
      return stores.atomically(async (tx) => {
        const row = await rotation.within(tx).begin({
          rotation_id: rotationId,
          secret_path: path,
          policy_id: null,
          workflow_id: workflowId,
          trigger: 'rotate_root',
          requested_by: requestedBy,
        });
        if (row === 'busy')
          return { outcome: 'busy' as const, rotationId: (await rotation.inProgress(path))?.rotation_id ?? 'unknown' };
        const orphan = await secrets.within(tx).pending(path);
        if (orphan) await secrets.within(tx).retire(path, orphan.version);
        const pending = await secrets
          .within(tx)
          .put(path, { ...current.data, password: generatePassword() }, current.secret_type, 'pending');
        await rotation
          .within(tx)
          .update(rotationId, { new_version: pending.version, previous_version: current.version });
        return { outcome: 'started' as const, rotationId };
      });
    },

    async applyRootPassword({ engine: name, rotationId }) {
      const engine = await mustEngine(name);
      const row = await rotation.get(rotationId);
      const pending = await secrets.pending(engine.root_credentials_path);
      if (!row || !pending || pending.version !== row.new_version) {
        return { refused: 'the pending root password is gone (the secret was changed or deleted meanwhile)' };
      }
      const next = credentialOf(pending.data);
      // Setting the same password again is harmless, so a retry simply runs it again (the engine's pools
      // log in with the pending value if an earlier attempt's ALTER ROLE already took).
      const verifier = await scramVerifier(next.password);
      try {
        await targets.withClient(name, (client) =>
          client.query(`ALTER ROLE CURRENT_USER PASSWORD ${client.escapeLiteral(verifier)}`),
        );
        return {};
      } catch (error) {
        // An answer from the database means the statement did not commit; a lost connection may have, and
        // the retry runs it again (through the pending value, if the database took it).
        const sqlstate =
          (error as { code?: string; sqlstate?: string }).code ?? (error as { sqlstate?: string }).sqlstate;
        const message = scrub(describe(error), next.password, verifier);
        if (sqlstate) return { refused: message };
        // eslint-disable-next-line preserve-caught-error -- the unscrubbed error may carry the new password or verifier
        throw new Error(`the database did not answer: ${message}`);
      }
    },

    async finishRootRotation({ engine: name, requestedBy, rotationId, refused }) {
      const row = await rotation.get(rotationId);
      if (!row) return { state: 'failed', rotationId, error: `rotation ${rotationId} is not recorded` };
      if (row.state === 'completed')
        return { state: 'completed', rotationId, version: row.new_version!, retiredVersion: row.previous_version };
      if (row.state !== 'pending') return { state: 'failed', rotationId, error: row.last_error ?? row.state };
      const path = row.secret_path;
      if (refused !== undefined) {
        await stores.audited(
          async (tx) => {
            if (row.new_version !== null) await secrets.within(tx).retire(path, row.new_version);
            await rotation
              .within(tx)
              .update(rotationId, { state: 'failed', finished_at: new Date(), last_error: refused });
          },
          entry(name, requestedBy, 'failure', { rotation_id: rotationId, error: refused }),
        );
        return { state: 'failed', rotationId, error: refused };
      }
      const { previousVersion } = await stores.audited(
        async (tx) => {
          const promoted = await secrets.within(tx).promote(path, row.new_version!, true);
          const retired = promoted.previousVersion ?? row.previous_version ?? null;
          await rotation.within(tx).update(rotationId, {
            state: 'completed',
            finished_at: new Date(),
            confirmed_at: new Date(),
            confirmed_by: requestedBy,
            previous_version: retired,
          });
          return { previousVersion: retired };
        },
        (done) =>
          entry(name, requestedBy, 'success', {
            rotation_id: rotationId,
            version: row.new_version,
            retired_version: done.previousVersion,
          }),
      );
      await targets.drop(name);
      return { state: 'completed', rotationId, version: row.new_version!, retiredVersion: previousVersion };
    },
  };
}
