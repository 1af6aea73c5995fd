import { constantTimeEqual } from '../lib/random';
import { inStoreTransaction, TableAccess } from './db';
import type { TokenRecord } from './tokens';

/**
 * Identities as far as authentication needs them: one is known once a token is minted for it, and once
 * deleted none of its tokens authenticates again.
 */
export class IdentityStore extends TableAccess {
  /** A token that is live (not revoked, not expired) and whose identity is not deleted. */
  async findLiveToken(tokenHash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.db.query<TokenRecord & { token_hash: string }>(
      `SELECT t.token_id, t.token_hash, t.identity_id, t.scopes, t.policies, t.expires_at FROM tokens t
       WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
         AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.identity_id = t.identity_id AND i.deleted_at IS NOT NULL)`,
      [tokenHash],
    );
    const row = rows[0];
    // The index lookup finds the row; the comparison that decides is constant-time.
    if (!row || !constantTimeEqual(row.token_hash, tokenHash)) return undefined;
    const { token_hash: _hash, ...record } = row;
    return record;
  }

  /** Records the identity as live, bringing a deleted one back (its old tokens stay revoked). */
  async ensure(identityId: string): Promise<void> {
    await this.db.query(
      'INSERT INTO identities (identity_id) VALUES ($1) ON CONFLICT (identity_id) DO UPDATE SET deleted_at = NULL',
      [identityId],
    );
  }

  /** Marks the identity deleted, revokes its tokens, drops its bindings; false when unknown or already deleted. */
  async delete(identityId: string): Promise<boolean> {
    return inStoreTransaction(this.db, async (client) => {
      const { rows } = await client.query<{ known: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM identities WHERE identity_id = $1 AND deleted_at IS NULL)
             OR (NOT EXISTS (SELECT 1 FROM identities WHERE identity_id = $1)
                 AND EXISTS (SELECT 1 FROM tokens WHERE identity_id = $1)) AS known`,
        [identityId],
      );
      if (!rows[0]!.known) return false;
      await client.query(
        `INSERT INTO identities (identity_id, deleted_at) VALUES ($1, now())
         ON CONFLICT (identity_id) DO UPDATE SET deleted_at = now()`,
        [identityId],
      );
      await client.query('UPDATE tokens SET revoked_at = now() WHERE identity_id = $1 AND revoked_at IS NULL', [
        identityId,
      ]);
      await client.query('DELETE FROM policy_bindings WHERE identity_id = $1', [identityId]);
      return true;
    });
  }

  async tokenOwner(tokenId: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ identity_id: string }>(
      'SELECT identity_id FROM tokens WHERE token_id = $1',
      [tokenId],
    );
    return rows[0]?.identity_id;
  }
}
