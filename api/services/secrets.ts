import { ENGINE_IDENTITY, isAdmin, type Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import type { Stores } from '../../store';
import { decodeCursor, pageFromRows, type PageQuery } from '../../lib/pagination';
import { auditEntry } from './audit-entry';

/** Tells a rotation workflow its secret was deleted (the store already ended the rotation). */
export type RotationNotice = (workflowId: string) => Promise<void>;

export function createSecretService(
  stores: Pick<Stores, 'audit' | 'audited' | 'engines' | 'rotation' | 'secrets'>,
  secretDeleted: RotationNotice,
) {
  /** A root credential an engine uses is readable by the engine machinery and admins only. */
  async function guardRootCredential(actor: Identity, path: string) {
    if (isAdmin(actor) || actor.identity_id === ENGINE_IDENTITY) return;
    if (!(await stores.engines.usesAsRootCredential(path))) return;
    const reason = `${path} is a dynamic engine's root credential`;
    await stores.audit.append({
      identity_id: actor.identity_id,
      action: 'auth_fail',
      path,
      result: 'failure',
      extra_data: { status: 403, reason },
    });
    throw new ApiError('forbidden', reason);
  }

  return {
    async put(actor: Identity, path: string, data: Record<string, unknown>, secretType: string) {
      await guardRootCredential(actor, path);
      return stores.audited(
        (tx) => stores.secrets.within(tx).put(path, data, secretType),
        (written) => auditEntry(actor, 'secret_write', path, { version: written.version }),
      );
    },

    async get(actor: Identity, path: string, version?: number) {
      await guardRootCredential(actor, path);
      const secret = await stores.secrets.get(path, version);
      if (!secret) throw notFound(`secret ${path}${version ? ` version ${version}` : ''}`);
      await stores.audit.append(auditEntry(actor, 'secret_read', path, { version: secret.version }));
      return secret;
    },

    async versions(path: string) {
      const versions = await stores.secrets.versions(path);
      if (versions.length === 0) throw notFound(`secret ${path}`);
      return { path, versions };
    },

    /** A page of the paths under `prefix`, in byte order. */
    async list(prefix: string, { limit, cursor }: PageQuery) {
      const after = cursor === undefined ? undefined : (decodeCursor(cursor, ['string'])[0] as string);
      const page = pageFromRows(await stores.secrets.list(prefix, limit + 1, after), limit, (path) => [path]);
      return { paths: page.data, next_cursor: page.next_cursor };
    },

    async delete(actor: Identity, path: string) {
      await guardRootCredential(actor, path);
      const deleted = await stores.audited(
        async (tx) => {
          if (!(await stores.secrets.within(tx).delete(path))) return undefined;
          return stores.rotation.within(tx).forgetSecret(path, 'the secret was deleted');
        },
        (ended) => (ended ? auditEntry(actor, 'secret_delete', path) : undefined),
      );
      if (!deleted) throw notFound(`secret ${path}`);
      // After the commit; a workflow not told waits out its grace period, then finds the rotation failed.
      await Promise.all(deleted.map((workflowId) => secretDeleted(workflowId).catch(() => {})));
    },
  };
}
