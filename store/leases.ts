import { UNFINISHED_STATES, type LeaseProgress, type LeaseSpec, type LeaseState } from '../lib/lease';
import { TableAccess } from './db';

export interface LeaseRecord {
  lease_id: string;
  engine: string;
  role: string;
  username: string;
  state: LeaseState;
  issued_at: Date;
  expires_at: Date;
  max_expires_at: Date;
  revoked_at: Date | null;
  identity_id: string;
  metadata: Record<string, string>;
  last_error: string | null;
  forced: boolean;
}

export interface LeaseFilter {
  engine?: string;
  role?: string;
  state?: LeaseState;
}

/** The listing projection of lease workflows. Only the workflow's activities write it. */
export class LeaseStore extends TableAccess {
  /** Idempotent: a retried activity writes the same row again. */
  async upsert(spec: LeaseSpec, p: LeaseProgress): Promise<void> {
    await this.db.query(
      `INSERT INTO leases (lease_id, engine, role, username, state, issued_at, expires_at, max_expires_at, revoked_at,
         identity_id, metadata, last_error, forced)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (lease_id) DO UPDATE SET state = $5, expires_at = $7, revoked_at = $9, last_error = $12,
         forced = $13, updated_at = now()`,
      [
        spec.leaseId,
        spec.engine,
        spec.role,
        spec.username,
        p.state,
        p.issuedAt,
        p.expiresAt,
        p.maxExpiresAt,
        p.revokedAt ?? null,
        spec.identityId,
        JSON.stringify(spec.metadata),
        p.lastError ?? null,
        p.forced ?? false,
      ],
    );
  }

  /** For the reconciler: a lease whose workflow is lost, once its role is gone. */
  async markFinished(leaseId: string, state: 'expired' | 'revoked'): Promise<void> {
    await this.db.query('UPDATE leases SET state = $2, revoked_at = now(), updated_at = now() WHERE lease_id = $1', [
      leaseId,
      state,
    ]);
  }

  async get(leaseId: string): Promise<LeaseRecord | undefined> {
    const { rows } = await this.db.query<LeaseRecord>('SELECT * FROM leases WHERE lease_id = $1', [leaseId]);
    return rows[0];
  }

  /**
   * One page, newest first (issue time, then lease id), after the lease whose sort key is `after`:
   * `[issued_at as ISO, lease_id]`.
   */
  async page(filter: LeaseFilter, limit: number, after?: [string, string]): Promise<LeaseRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of Object.entries(filter)) {
      if (value === undefined) continue;
      values.push(value);
      where.push(`${column} = $${values.length}`);
    }
    if (after) {
      values.push(after[0], after[1]);
      const [at, id] = [`$${values.length - 1}::timestamptz`, `$${values.length}`];
      where.push(`(issued_at < ${at} OR (issued_at = ${at} AND lease_id > ${id}))`);
    }
    values.push(limit);
    const { rows } = await this.db.query<LeaseRecord>(
      `SELECT * FROM leases ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY issued_at DESC, lease_id LIMIT $${values.length}`,
      values,
    );
    return rows;
  }

  /** Leases not yet finished: their workflows still run. */
  async unfinished(filter: Omit<LeaseFilter, 'state'>): Promise<LeaseRecord[]> {
    const { rows } = await this.db.query<LeaseRecord>(
      `SELECT * FROM leases WHERE state = ANY($3::text[])
         AND ($1::text IS NULL OR engine = $1) AND ($2::text IS NULL OR role = $2)`,
      [filter.engine ?? null, filter.role ?? null, UNFINISHED_STATES],
    );
    return rows;
  }
}
