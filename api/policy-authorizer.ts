import type { Identity, Permission } from '../lib/access';
import { rulesAllow, rulesAllowAll, rulesDeny } from '../lib/path-pattern';
import type { PolicyStore } from '../store/policies';
import type { Authorizer } from './auth';

/** Grants what the policies in force for the token allow: those it carries and those bound to its identity. */
export function policyAuthorizer(policies: PolicyStore): Authorizer {
  const rulesOf = async (identity: Identity) =>
    (await policies.inForce(identity.policies, identity.identity_id)).flatMap((p) => p.rules);
  return {
    allows: async (identity: Identity, permission: Permission, path: string) =>
      rulesAllow(await rulesOf(identity), permission, path),
    allowsAll: async (identity: Identity, permission: Permission, pattern: string) =>
      rulesAllowAll(await rulesOf(identity), permission, pattern),
    denies: async (identity: Identity, path: string) => rulesDeny(await rulesOf(identity), path),
  };
}
