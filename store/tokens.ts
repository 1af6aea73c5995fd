import { TableAccess } from './db';

export interface TokenRecord {
  token_id: string;
  identity_id: string;
  scopes: string[];
  policies: string[];
  expires_at: Date | null;
}

export class TokenStore extends TableAccess {
  /** A token whose id or hash exists already is left as it is: above all, a revoked token never comes back. */
  async create(t: TokenRecord & { token_hash: string }): Promise<void> {
    await this.db.query(
      'INSERT INTO tokens (token_id, token_hash, identity_id, scopes, policies, expires_at) ' +
        `VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING`,
      [t.token_id, t.token_hash, t.identity_id, t.scopes, t.policies, t.expires_at],
    );
  }

  /** A live token by its hash: not revoked, not expired. */
  async findLive(tokenHash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.db.query<TokenRecord>(
      `SELECT token_id, identity_id, scopes, policies, expires_at FROM tokens
       WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [tokenHash],
    );
    return rows[0];
  }

  async exists(tokenId: string): Promise<boolean> {
    return ((await this.db.query('SELECT 1 FROM tokens WHERE token_id = $1', [tokenId])).rowCount ?? 0) > 0;
  }

  async revoke(tokenId: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'UPDATE tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL',
      [tokenId],
    );
    return (rowCount ?? 0) > 0;
  }
}
