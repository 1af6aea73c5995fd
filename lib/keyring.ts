import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** One AES-256 key and the short id stored beside everything it seals, so keys can rotate. */
export interface DataKey {
  id: string;
  key: Buffer;
}

/**
 * Keys derived from the master key, one per purpose, so the secret store and the Temporal payload codec
 * never share a key. The first key seals; every key opens, so retired ids still decrypt.
 */
export class Keyring {
  private readonly byId: Map<string, DataKey>;

  constructor(private readonly keys: DataKey[]) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k]));
  }

  static derive(masterKeys: Buffer[], purpose: string): Keyring {
    return new Keyring(
      masterKeys.map((master) => {
        const key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `scaivault:${purpose}`, 32));
        return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
      }),
    );
  }

  get activeKeyId(): string {
    return this.keys[0]!.id;
  }

  /** HMAC-SHA256 (hex) under the active key, or under `keyId` to check a MAC made earlier. */
  mac(data: string, keyId = this.activeKeyId): { keyId: string; mac: string } {
    const entry = this.byId.get(keyId);
    if (!entry) throw new Error(`unknown key id ${keyId}`);
    return { keyId, mac: createHmac('sha256', entry.key).update(data).digest('hex') };
  }

  /** Whether `mac` is the MAC of `data` under `keyId` (false for an unknown key id). */
  macMatches(data: string, keyId: string, mac: string): boolean {
    if (!this.byId.has(keyId)) return false;
    const expected = Buffer.from(this.mac(data, keyId).mac);
    const given = Buffer.from(mac);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  seal(plaintext: Uint8Array, aad = ''): { keyId: string; sealed: Buffer } {
    const { id, key } = this.keys[0]!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, nonce);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { keyId: id, sealed: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
  }

  open(keyId: string, sealed: Uint8Array, aad = ''): Buffer {
    const entry = this.byId.get(keyId);
    if (!entry) throw new Error(`unknown encryption key id ${keyId}`);
    const data = Buffer.from(sealed);
    const nonce = data.subarray(0, NONCE_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv(ALGORITHM, entry.key, nonce);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  }
}

/** Parses SCAIVAULT_MASTER_KEY: one or more base64 32-byte keys, comma separated, newest first. */
export function parseMasterKeys(value: string): Buffer[] {
  return value.split(',').map((part) => {
    const key = Buffer.from(part.trim(), 'base64');
    if (key.length !== 32) throw new Error('SCAIVAULT_MASTER_KEY must hold base64-encoded 32-byte keys');
    return key;
  });
}
