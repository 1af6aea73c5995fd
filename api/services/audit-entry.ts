import type { Identity } from '../../lib/access';
import type { AuditEntry } from '../../store/audit';

/** The audit entry a change leaves: who made it, what it was, where, and what else the log should say. */
export const auditEntry = (
  actor: Identity,
  action: string,
  path: string,
  extra: Record<string, unknown> = {},
): AuditEntry & { result: 'success' } => ({
  identity_id: actor.identity_id,
  action,
  path,
  result: 'success',
  extra_data: extra,
});
