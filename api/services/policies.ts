import type { Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import type { PolicyRule } from '../../lib/path-pattern';
import { newId } from '../../lib/random';
import type { Stores } from '../../store';
import type { PolicyRecord } from '../../store/policies';
import { auditEntry } from './audit-entry';

export interface PolicyInput {
  name: string;
  rules: PolicyRule[];
}

export const policyView = (p: PolicyRecord) => ({
  id: p.id,
  name: p.name,
  rules: p.rules,
  bindings: p.bindings,
  created_at: p.created_at.toISOString(),
  updated_at: p.updated_at.toISOString(),
});

const nameTaken = (name: string) => new ApiError('conflict', `a policy named ${name} already exists`);

export function createPolicyService(stores: Pick<Stores, 'audited' | 'policies'>) {
  const entry = (actor: Identity, id: string, operation: string, extra: Record<string, unknown> = {}) =>
    auditEntry(actor, 'policy_write', `policies/${id}`, { operation, ...extra });
  /** The change and its entry in one transaction; the entry only when `changed` says the change happened. */
  const audited = <T>(
    change: (policies: Stores['policies']) => Promise<T>,
    changed: (result: T) => boolean,
    ...recorded: Parameters<typeof entry>
  ) =>
    stores.audited(
      (tx) => change(stores.policies.within(tx)),
      (result) => (changed(result) ? entry(...recorded) : undefined),
    );

  async function mustGet(id: string) {
    const policy = await stores.policies.get(id);
    if (!policy) throw notFound(`policy ${id}`);
    return policy;
  }

  return {
    get: async (id: string) => policyView(await mustGet(id)),
    list: async () => (await stores.policies.list()).map(policyView),

    async create(actor: Identity, input: PolicyInput) {
      const id = newId('pol');
      if (!(await audited((p) => p.create({ id, ...input }), Boolean, actor, id, 'create', { name: input.name })))
        throw nameTaken(input.name);
      return policyView(await mustGet(id));
    },

    async update(actor: Identity, id: string, input: PolicyInput) {
      const outcome = await audited(
        (p) => p.update({ id, ...input }),
        (o) => o === 'updated',
        actor,
        id,
        'update',
        { name: input.name },
      );
      if (outcome === 'missing') throw notFound(`policy ${id}`);
      if (outcome === 'name_taken') throw nameTaken(input.name);
      return policyView(await mustGet(id));
    },

    async delete(actor: Identity, id: string) {
      if (!(await audited((p) => p.delete(id), Boolean, actor, id, 'delete'))) throw notFound(`policy ${id}`);
    },

    async bind(actor: Identity, id: string, identityId: string) {
      await mustGet(id);
      await audited(
        (p) => p.bind(id, identityId),
        () => true,
        actor,
        id,
        'bind',
        { bound_identity_id: identityId },
      );
      return { policy_id: id, identity_id: identityId };
    },

    async unbind(actor: Identity, id: string, identityId: string) {
      if (
        !(await audited((p) => p.unbind(id, identityId), Boolean, actor, id, 'unbind', {
          bound_identity_id: identityId,
        }))
      ) {
        throw notFound(`binding of policy ${id} to ${identityId}`);
      }
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
