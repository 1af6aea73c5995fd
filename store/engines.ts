import { UNFINISHED_STATES } from '../lib/lease';
import { TableAccess } from './db';

export interface EngineRecord {
  name: string;
  plugin: 'postgresql';
  connection_url: string;
  /** PEM: the CA that verifies the target's TLS certificate. */
  ca_certificate: string | null;
  root_credentials_path: string;
  credentials_cache_ttl: number;
  /** Seconds any statement on the target may run, and wait for a lock. */
  statement_timeout: number;
  lock_timeout: number;
  default_ttl: number;
  max_ttl: number;
  connection_status: 'healthy' | 'unhealthy';
  /** Set once the engine is deleted: its leases are being revoked, and it issues nothing. */
  deleted_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export type EngineFields = Omit<EngineRecord, 'created_at' | 'updated_at' | 'deleted_at'>;

export class EngineStore extends TableAccess {
  /** A live engine (not deleted). */
  async get(name: string): Promise<EngineRecord | undefined> {
    const { rows } = await this.db.query<EngineRecord>('SELECT * FROM engines WHERE name = $1 AND deleted_at IS NULL', [
      name,
    ]);
    return rows[0];
  }

  /** The engine, live or deleted while its leases are revoked: where revocations connect. */
  async getForRevocation(name: string): Promise<EngineRecord | undefined> {
    const { rows } = await this.db.query<EngineRecord>('SELECT * FROM engines WHERE name = $1', [name]);
    return rows[0];
  }

  /** Whether some engine, deleted ones included, keeps its root credential at this secret path. */
  async usesAsRootCredential(path: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM engines WHERE root_credentials_path = $1', [path]);
    return (rowCount ?? 0) > 0;
  }

  async list(): Promise<EngineRecord[]> {
    return (await this.db.query<EngineRecord>('SELECT * FROM engines WHERE deleted_at IS NULL ORDER BY name')).rows;
  }

  /** Every engine with roles in a database, deleted ones included (the reconciler still sweeps them). */
  async listForRevocation(): Promise<EngineRecord[]> {
    return (await this.db.query<EngineRecord>('SELECT * FROM engines ORDER BY name')).rows;
  }

  /** Marks the engine deleted; false when it was not live. */
  async tombstone(name: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'UPDATE engines SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL',
      [name],
    );
    return rowCount === 1;
  }

  /** A deleted engine's tombstone, once no lease of it is unfinished; false while one is. */
  async purgeTombstone(name: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `DELETE FROM engines e WHERE name = $1 AND deleted_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.engine = e.name AND l.state = ANY($2::text[]))`,
      [name, UNFINISHED_STATES],
    );
    return rowCount === 1;
  }

  /** Inserts; false when the name is taken. */
  async create(e: EngineFields): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO engines (name, plugin, connection_url, root_credentials_path, credentials_cache_ttl,
         default_ttl, max_ttl, connection_status, last_error, ca_certificate, statement_timeout, lock_timeout)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (name) DO NOTHING`,
      [
        e.name,
        e.plugin,
        e.connection_url,
        e.root_credentials_path,
        e.credentials_cache_ttl,
        e.default_ttl,
        e.max_ttl,
        e.connection_status,
        e.last_error,
        e.ca_certificate,
        e.statement_timeout,
        e.lock_timeout,
      ],
    );
    return rowCount === 1;
  }

  async update(e: EngineFields): Promise<void> {
    await this.db.query(
      `UPDATE engines SET plugin = $2, connection_url = $3, root_credentials_path = $4, credentials_cache_ttl = $5,
         default_ttl = $6, max_ttl = $7, connection_status = $8, last_error = $9, ca_certificate = $10,
         statement_timeout = $11, lock_timeout = $12, updated_at = now()
       WHERE name = $1`,
      [
        e.name,
        e.plugin,
        e.connection_url,
        e.root_credentials_path,
        e.credentials_cache_ttl,
        e.default_ttl,
        e.max_ttl,
        e.connection_status,
        e.last_error,
        e.ca_certificate,
        e.statement_timeout,
        e.lock_timeout,
      ],
    );
  }

  async setStatus(name: string, status: EngineRecord['connection_status'], lastError: string | null): Promise<void> {
    await this.db.query(
      'UPDATE engines SET connection_status = $2, last_error = $3 WHERE name = $1 AND ' +
        "(connection_status, coalesce(last_error, '')) IS DISTINCT FROM ($2, coalesce($3, ''))",
      [name, status, lastError],
    );
  }
}
