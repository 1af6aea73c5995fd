import type { Identity } from '../../lib/access';
import { ApiError } from '../../lib/errors';
import type { AuditLog } from '../../store/audit';

/**
 * A 403 decided inside a service (where the path to authorize is known only from the body), audited as the
 * auth hook audits its own refusals.
 */
export async function refusal(
  audit: Pick<AuditLog, 'append'>,
  actor: Identity,
  path: string,
  reason: string,
  extra: Record<string, unknown> = {},
) {
  await audit.append({
    identity_id: actor.identity_id,
    action: 'auth_fail',
    path,
    result: 'failure',
    extra_data: { status: 403, reason, ...extra },
  });
  return new ApiError('forbidden', reason);
}
