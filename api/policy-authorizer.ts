import type { Identity, Permission } from '../lib/access';
import { rulesAllow } from '../lib/path-pattern';
import type { PolicyStore } from '../store/policies';
import type { Authorizer } from './auth';

/** Grants what the policies in force for the token allow: those it carries and those bound to its identity. */
export function policyAuthorizer(policies: PolicyStore): Authorizer {
  return {
    async allows(identity: Identity, permission: Permission, path: string) {
      const inForce = await policies.inForce(identity.policies, identity.identity_id);
      return rulesAllow(inForce.flatMap((p) => p.rules), permission, path);
    },
  };
}
