import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Keyring } from '../lib/keyring';
import { hashToken, newId, newToken } from '../lib/random';
import { ROOT_IDENTITY } from '../lib/access';
import type { Stores } from '.';

/**
 * Refuses to start against a store sealed with another master key: two instances sharing one database
 * with different keys would each make the other's secrets unreadable.
 */
export async function checkMasterKey(stores: Stores, masterKeys: Buffer[]): Promise<void> {
  const fingerprint = Keyring.derive(masterKeys, 'fingerprint').activeKeyId;
  await stores.db.query(
    `INSERT INTO store_meta (key, value) VALUES ('master_key_fingerprint', $1) ON CONFLICT DO NOTHING`,
    [fingerprint],
  );
  const { rows } = await stores.db.query<{ value: string }>(
    `SELECT value FROM store_meta WHERE key = 'master_key_fingerprint'`,
  );
  const known = masterKeys.map((key) => Keyring.derive([key], 'fingerprint').activeKeyId);
  if (!known.includes(rows[0]!.value)) {
    throw new Error(
      'this store was sealed with a different master key: check SCAIVAULT_MASTER_KEY, ' +
        'or give this instance its own DATABASE_URL',
    );
  }
}

/** This store's id, made once: it marks the database roles this store's leases create. */
export async function storeId(stores: Stores): Promise<string> {
  await stores.db.query(`INSERT INTO store_meta (key, value) VALUES ('store_id', $1) ON CONFLICT DO NOTHING`, [
    newId('store'),
  ]);
  const { rows } = await stores.db.query<{ value: string }>(`SELECT value FROM store_meta WHERE key = 'store_id'`);
  return rows[0]!.value;
}

export interface RootToken {
  /** Present when it is known to this process: set by SCAIVAULT_DEV_ROOT_TOKEN, or created by this start. */
  token?: string;
  created: boolean;
  file: string;
}

/**
 * The root token (identity `root`, scope `admin`): SCAIVAULT_DEV_ROOT_TOKEN when set, like Vault's dev
 * root token id; otherwise created on the first start, written once to the data dir (0600), stored as a hash.
 */
export async function ensureRootToken(stores: Stores, dataDir: string, devRootToken?: string): Promise<RootToken> {
  const file = path.join(dataDir, 'root-token');
  const write = async (token: string, tokenId = 'root') =>
    stores.tokens.create({
      token_id: tokenId,
      token_hash: hashToken(token),
      identity_id: ROOT_IDENTITY,
      scopes: ['admin'],
      policies: [],
      expires_at: null,
    });
  if (devRootToken) {
    // Each dev root token value is a token of its own, written once (its hash is unique): revoked, it stays revoked.
    await write(devRootToken, newId('root'));
    return { token: devRootToken, created: false, file };
  }
  if (await stores.tokens.exists('root')) {
    return { created: false, file };
  }
  const token = newToken();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, token + '\n', { mode: 0o600 });
  await write(token);
  return { token, created: true, file };
}
