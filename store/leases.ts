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

const COLUMN_TYPES = {
  lease_id: 'text',
  engine: 'text',
  role: 'text',
  username: 'text',
  state: 'text',
  issued_at: 'timestamptz',
  expires_at: 'timestamptz',
  max_expires_at: 'timestamptz',
  revoked_at: 'timestamptz',
  identity_id: 'text',
  metadata: 'jsonb',
  last_error: 'text',
  forced: 'boolean',
};
const COLUMNS = Object.keys(COLUMN_TYPES).join(', ');
const PLACEHOLDERS = Object.keys(COLUMN_TYPES)
  .map((_, i) => `$${i + 1}`)
  .join(', ');
/** For `INSERT ... SELECT`, where a parameter's type is not taken from its column. */
const TYPED_PLACEHOLDERS = Object.values(COLUMN_TYPES)
  .map((type, i) => `$${i + 1}::${type}`)
  .join(', ');
const ON_CONFLICT = `ON CONFLICT (lease_id) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at,
  revoked_at = EXCLUDED.revoked_at, last_error = EXCLUDED.last_error, forced = EXCLUDED.forced, updated_at = now()`;

/** The row's values, in `COLUMN_TYPES` order. */
const rowOf = (spec: LeaseSpec, p: LeaseProgress) => [
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
];

/** The listing projection of lease workflows. Only the workflow's activities write it. */
export class LeaseStore extends TableAccess {
  /** Idempotent: a retried activity writes the same row again. */
  async upsert(spec: LeaseSpec, p: LeaseProgress): Promise<void> {
    await this.db.query(`INSERT INTO leases (${COLUMNS}) VALUES (${PLACEHOLDERS}) ${ON_CONFLICT}`, rowOf(spec, p));
  }

  /**
   * The issued lease's row, written only while its engine is live, in one statement: a deletion that came
   * first refuses it (false), and one that comes after finds the lease and revokes it. The engine's row is
   * locked for the statement, so a deletion in progress is waited for. Idempotent, as `upsert`.
   */
  async recordIssued(spec: LeaseSpec, p: LeaseProgress): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO leases (${COLUMNS}) SELECT ${TYPED_PLACEHOLDERS}
       WHERE EXISTS (SELECT 1 FROM engines WHERE name = $2 AND deleted_at IS NULL FOR SHARE) ${ON_CONFLICT}`,
      rowOf(spec, p),
    );
    return rowCount === 1;
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

  /** The leases of these ids that exist, in one query (the reconciler reads one per marked role). */
  async getMany(leaseIds: string[]): Promise<Map<string, LeaseRecord>> {
    const { rows } = await this.db.query<LeaseRecord>('SELECT * FROM leases WHERE lease_id = ANY($1::text[])', [
      leaseIds,
    ]);
    return new Map(rows.map((row) => [row.lease_id, row]));
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
