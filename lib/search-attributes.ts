import type { SearchAttributePair, SearchAttributeType } from '@temporalio/common';
import type { LeaseProgress, LeaseSpec } from './lease';

/**
 * A typed search attribute key, as `defineSearchAttributeKey` makes one (a plain object: the workflow
 * sandbox imports it).
 */
const key = <T extends SearchAttributeType>(name: string, type: T) => ({ name, type });

/**
 * What operators filter leases by in the Temporal Web UI, e.g.
 * `ScaiVaultEngine="reporting-db" AND ScaiVaultLeaseState="active"`. Search attributes are never
 * encrypted, so only non-secret values go here; metadata goes in the (encrypted) memo.
 */
export const LeaseSearchKeys = {
  engine: key('ScaiVaultEngine', 'KEYWORD'),
  role: key('ScaiVaultRole', 'KEYWORD'),
  state: key('ScaiVaultLeaseState', 'KEYWORD'),
  username: key('ScaiVaultUsername', 'KEYWORD'),
  expiresAt: key('ScaiVaultExpiresAt', 'DATETIME'),
} as const;

export function leaseSearchAttributes(
  spec: Pick<LeaseSpec, 'engine' | 'role' | 'username'>,
  progress: Pick<LeaseProgress, 'state' | 'expiresAt'>,
): SearchAttributePair[] {
  return [
    { key: LeaseSearchKeys.engine, value: spec.engine },
    { key: LeaseSearchKeys.role, value: spec.role },
    { key: LeaseSearchKeys.state, value: progress.state },
    { key: LeaseSearchKeys.username, value: spec.username },
    { key: LeaseSearchKeys.expiresAt, value: new Date(progress.expiresAt) },
  ] as SearchAttributePair[];
}
