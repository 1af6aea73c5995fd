import type { Keyring } from '../lib/keyring';
import type { Db } from './db';

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
export class SecretStore {
  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
  ) {}

  async put(path: string, data: Record<string, unknown>, secretType: string, state: 'current' | 'pending' = 'current') {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`secret:${path}`]);
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
      await client.query('COMMIT');
      return { path, version, created_at: inserted.rows[0]!.created_at.toISOString() };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
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

  async versions(path: string) {
    const { rows } = await this.db.query<Omit<SecretRow, 'key_id' | 'ciphertext'>>(
      `SELECT path, version, state, secret_type, created_at FROM secrets
       WHERE path = $1 AND deleted_at IS NULL ORDER BY version`,
      [path],
    );
    return rows.map((r) => ({ version: r.version, state: r.state, secret_type: r.secret_type, created_at: r.created_at.toISOString() }));
  }

  async list(prefix: string): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT DISTINCT path FROM secrets WHERE deleted_at IS NULL AND starts_with(path, $1) ORDER BY path`,
      [prefix],
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
