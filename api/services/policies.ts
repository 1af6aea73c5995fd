import type { Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import type { PolicyRule } from '../../lib/path-pattern';
import { newId } from '../../lib/random';
import type { Stores } from '../../store';
import type { PolicyRecord } from '../../store/policies';

export interface PolicyInput {
  name: string;
  rules: PolicyRule[];
}

export const policyView = (p: PolicyRecord) => ({
  id: p.id, name: p.name, rules: p.rules, bindings: p.bindings,
  created_at: p.created_at.toISOString(), updated_at: p.updated_at.toISOString(),
});

const nameTaken = (name: string) => new ApiError('conflict', `a policy named ${name} already exists`);

export function createPolicyService(stores: Stores) {
  const audit = (actor: Identity, id: string, operation: string, extra: Record<string, unknown> = {}) =>
    stores.audit.append({ identity_id: actor.identity_id, action: 'policy_write', path: `policies/${id}`, result: 'success', extra_data: { operation, ...extra } });

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
      if (!(await stores.policies.create({ id, ...input }))) throw nameTaken(input.name);
      await audit(actor, id, 'create', { name: input.name });
      return policyView(await mustGet(id));
    },

    async update(actor: Identity, id: string, input: PolicyInput) {
      const outcome = await stores.policies.update({ id, ...input });
      if (outcome === 'missing') throw notFound(`policy ${id}`);
      if (outcome === 'name_taken') throw nameTaken(input.name);
      await audit(actor, id, 'update', { name: input.name });
      return policyView(await mustGet(id));
    },

    async delete(actor: Identity, id: string) {
      if (!(await stores.policies.delete(id))) throw notFound(`policy ${id}`);
      await audit(actor, id, 'delete');
    },

    async bind(actor: Identity, id: string, identityId: string) {
      await mustGet(id);
      await stores.policies.bind(id, identityId);
      await audit(actor, id, 'bind', { bound_identity_id: identityId });
      return { policy_id: id, identity_id: identityId };
    },

    async unbind(actor: Identity, id: string, identityId: string) {
      if (!(await stores.policies.unbind(id, identityId))) throw notFound(`binding of policy ${id} to ${identityId}`);
      await audit(actor, id, 'unbind', { bound_identity_id: identityId });
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
