import { ApplicationFailure } from '@temporalio/activity';
import { ended, type LeaseProgress, type LeaseSpec } from '../lib/lease';
import { endingAudit, type LeaseActivities, type LeaseAuditEvent } from '../lib/lease-activities';
import { ActivityErrors } from '../lib/lease-activities';
import { leaseMetrics } from '../lib/metrics';
import type { LeasePasswordSeal } from '../lib/lease-password';
import { generatePassword } from '../lib/random';
import { scramVerifier } from '../lib/scram';
import { formatExpiration } from '../lib/templates';
import { createRole, dropRole, inTransaction, leaseMarker, StatementError } from '../engine/statements';
import type { TargetPools } from '../engine/target-pools';
import type { AuditLog } from '../store/audit';
import type { LeaseStore } from '../store/leases';
import type { RoleStore } from '../store/roles';

export interface LeaseActivityDeps {
  targets: TargetPools;
  leases: LeaseStore;
  roles: RoleStore;
  audit: AuditLog;
  /** This store's id, written into each role's marker so the reconciler knows its own roles. */
  storeId: string;
  /** Seals the issued password for its trip through Temporal (the codec endpoint cannot open it). */
  passwords: Pick<LeasePasswordSeal, 'seal'>;
}

/** A statement the database rejected will be rejected again: fail without retrying. */
function rethrow(error: unknown): never {
  if (error instanceof StatementError) {
    const { statementIndex, sqlstate, message } = error.failure;
    throw ApplicationFailure.nonRetryable(
      `statement ${statementIndex} failed (${sqlstate ?? 'no sqlstate'}): ${message}`,
      ActivityErrors.statementFailed,
    );
  }
  throw error;
}

export function createLeaseActivities({ targets, leases, roles, audit, storeId, passwords }: LeaseActivityDeps): LeaseActivities {
  async function revoke(spec: LeaseSpec) {
    // The role's current revocation statements, so an operator can mend a failing revocation by fixing
    // the role; the snapshot taken at issue when the role is gone.
    const statements = (await roles.get(spec.engine, spec.role))?.revocation_statements ?? spec.statements.revocation;
    const outcome = await targets.withClient(spec.engine, (client) => dropRole(client, statements, spec.username));
    return {
      roleGone: outcome.roleGone,
      errors: outcome.errors.map((f) => `${f.statementIndex >= 0 ? `statement ${f.statementIndex}` : 'session cleanup'}: ${f.message}${f.hint ? ` (hint: ${f.hint})` : ''}`),
    };
  }

  async function recordState(spec: LeaseSpec, progress: LeaseProgress, event?: LeaseAuditEvent) {
    await leases.upsert(spec, progress);
    if (event) {
      await audit.append({
        identity_id: event.action === 'dynamic_expire' ? 'system:dynamic-engines' : spec.identityId,
        action: event.action,
        path: `dynamic/${spec.engine}/creds/${spec.role}`,
        result: event.result,
        extra_data: { lease_id: spec.leaseId, username: spec.username, ...(event.error ? { error: event.error } : {}) },
      });
    }
    if (event?.action === 'dynamic_expire' && event.result === 'success') leaseMetrics.expired(spec);
  }

  return {
    async createCredential({ spec, progress }) {
      const password = generatePassword();
      // Postgres is sent a SCRAM verifier, never the password, so statement logs hold nothing usable.
      const verifier = await scramVerifier(password);
      const values = { name: spec.username, password: verifier, expiration: formatExpiration(new Date(progress.expiresAt)) };
      const marker = leaseMarker({ leaseId: spec.leaseId, engine: spec.engine, storeId, issuedAt: progress.issuedAt });
      await targets.withClient(spec.engine, (client) => createRole(client, spec.statements.creation, values, marker)).catch(rethrow);
      await leases.upsert(spec, progress);
      return { password: passwords.seal(password, spec.leaseId) };
    },

    async renewCredential({ spec, progress }) {
      const values = { name: spec.username, expiration: formatExpiration(new Date(progress.expiresAt)) };
      await targets.withClient(spec.engine, (client) => inTransaction(client, spec.statements.renew, values)).catch(rethrow);
      await leases.upsert(spec, progress);
    },

    revokeCredential: ({ spec }) => revoke(spec),

    async revokeAndRecord({ spec, progress, record }) {
      const outcome = await revoke(spec);
      if (outcome.roleGone) {
        const next: LeaseProgress = { ...ended(progress, Date.now()), lastError: undefined };
        if (record) await recordState(spec, next, endingAudit(progress));
        return { roleGone: true, progress: next };
      }
      const lastError = outcome.errors.join('; ') || 'the role still exists after the revocation statements';
      if (progress.state === 'revocation_failed' && progress.lastError === lastError) return { roleGone: false, progress };
      const next: LeaseProgress = { ...progress, state: 'revocation_failed', lastError };
      if (record) await recordState(spec, next, endingAudit(progress, lastError));
      return { roleGone: false, progress: next };
    },

    recordLeaseState: ({ spec, progress, audit: event }) => recordState(spec, progress, event),
  };
}
