import type { Keyring } from '../lib/keyring';
import type { PoolClient } from 'pg';
import { inStoreTransaction, TableAccess, type Queryable } from './db';

export type SecretState = 'current' | 'pending' | 'previous' | 'retired';

export interface SecretVersion {
  path: string;
  version: number;
  data: Record<string, unknown>;
  secret_type: string;
  created_at: string;
  state: SecretState;
}

interface SecretRow {
  path: string;
  version: number;
  state: SecretState;
  secret_type: string;
  key_id: string;
  ciphertext: Buffer;
  created_at: Date;
}

const aad = (path: string, version: number) => `secret:${path}#${version}`;

/** Versioned secrets sealed with AES-256-GCM; the path and version are bound into each ciphertext. */
export class SecretStore extends TableAccess {
  constructor(
    db: Queryable,
    private readonly keyring: Keyring,
  ) {
    super(db);
  }

  async put(path: string, data: Record<string, unknown>, secretType: string, state: 'current' | 'pending' = 'current') {
    return this.inPathTransaction(path, async (client) => {
      const { rows } = await client.query<{ next: number }>(
        'SELECT coalesce(max(version), 0) + 1 AS next FROM secrets WHERE path = $1',
        [path],
      );
      const version = rows[0]!.next;
      if (state === 'current') {
        await client.query(`UPDATE secrets SET state = 'previous' WHERE path = $1 AND state = 'current'`, [path]);
      }
      const { keyId, sealed } = this.keyring.seal(Buffer.from(JSON.stringify(data)), aad(path, version));
      const inserted = await client.query<{ created_at: Date }>(
        `INSERT INTO secrets (path, version, state, secret_type, key_id, ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
        [path, version, state, secretType, keyId, sealed],
      );
      return { path, version, created_at: inserted.rows[0]!.created_at.toISOString() };
    });
  }

  /** The current version, or the given one; undefined when absent, deleted or retired. */
  async get(path: string, version?: number): Promise<SecretVersion | undefined> {
    const { rows } = await this.db.query<SecretRow>(
      version === undefined
        ? `SELECT * FROM secrets WHERE path = $1 AND state = 'current' AND deleted_at IS NULL`
        : `SELECT * FROM secrets WHERE path = $1 AND version = $2 AND state <> 'retired' AND deleted_at IS NULL`,
      version === undefined ? [path] : [path, version],
    );
    return rows[0] && this.open(rows[0]);
  }

  /** The pending version (a rotation's new value awaiting confirmation), if any. */
  async pending(path: string): Promise<SecretVersion | undefined> {
    const { rows } = await this.db.query<SecretRow>(
      "SELECT * FROM secrets WHERE path = $1 AND state = 'pending' AND deleted_at IS NULL " +
        'ORDER BY version DESC LIMIT 1',
      [path],
    );
    return rows[0] && this.open(rows[0]);
  }

  /**
   * Makes a pending version current; the current one becomes `previous` (or `retired` with
   * `retireCurrent`), and older previous versions are retired, so one previous stays readable.
   * Idempotent: a version already current is left as it is. Returns the version that was current.
   */
  async promote(path: string, version: number, retireCurrent = false): Promise<{ previousVersion?: number }> {
    return this.inPathTransaction(path, async (client) => {
      const { rows } = await client.query<{ version: number; state: SecretState }>(
        `SELECT version, state FROM secrets WHERE path = $1 AND deleted_at IS NULL AND state IN ('current', 'pending')`,
        [path],
      );
      const current = rows.find((r) => r.state === 'current');
      if (current?.version === version) return {};
      if (!rows.some((r) => r.version === version && r.state === 'pending'))
        throw new Error(`version ${version} of ${path} is not pending`);
      await client.query(`UPDATE secrets SET state = 'retired' WHERE path = $1 AND state = 'previous'`, [path]);
      await client.query(`UPDATE secrets SET state = $2 WHERE path = $1 AND state = 'current'`, [
        path,
        retireCurrent ? 'retired' : 'previous',
      ]);
      await client.query(`UPDATE secrets SET state = 'current' WHERE path = $1 AND version = $2`, [path, version]);
      return { previousVersion: current?.version };
    });
  }

  /** Retires one version if it is pending or previous (never the current one). */
  async retire(path: string, version: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE secrets SET state = 'retired' WHERE path = $1 AND version = $2 AND state IN ('pending', 'previous')`,
      [path, version],
    );
    return (rowCount ?? 0) > 0;
  }

  private inPathTransaction<T>(path: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    return inStoreTransaction(this.db, work, { lock: `secret:${path}` });
  }

  async versions(path: string) {
    const { rows } = await this.db.query<Omit<SecretRow, 'key_id' | 'ciphertext'>>(
      `SELECT path, version, state, secret_type, created_at FROM secrets
       WHERE path = $1 AND deleted_at IS NULL ORDER BY version`,
      [path],
    );
    return rows.map((r) => ({
      version: r.version,
      state: r.state,
      secret_type: r.secret_type,
      created_at: r.created_at.toISOString(),
    }));
  }

  /** Paths under `prefix`, in byte order, after `after`: at most `limit`. */
  async list(prefix: string, limit: number, after?: string): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT DISTINCT path COLLATE "C" AS path FROM secrets
       WHERE deleted_at IS NULL AND starts_with(path, $1) AND ($2::text IS NULL OR path COLLATE "C" > $2)
       ORDER BY 1 LIMIT $3`,
      [prefix, after ?? null, limit],
    );
    return rows.map((r) => r.path);
  }

  async delete(path: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'UPDATE secrets SET deleted_at = now() WHERE path = $1 AND deleted_at IS NULL',
      [path],
    );
    return (rowCount ?? 0) > 0;
  }

  private open(row: SecretRow): SecretVersion {
    const plaintext = this.keyring.open(row.key_id, row.ciphertext, aad(row.path, row.version));
    return {
      path: row.path,
      version: row.version,
      data: JSON.parse(plaintext.toString('utf8')),
      secret_type: row.secret_type,
      created_at: row.created_at.toISOString(),
      state: row.state,
    };
  }
}
