import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** Letters and digits only: no quote, backslash or dollar can break out of a SQL literal or a URL. */
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const NAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function pick(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** 32 characters from 56 symbols: about 186 bits. */
export const generatePassword = (length = 32) => pick(PASSWORD_ALPHABET, length);

export const randomName = (length: number) => pick(NAME_ALPHABET, length);

/**
 * Every id the product makes: `<prefix>_` then lower-case letters and digits, which every id route and every
 * client-chosen id (`rot_db_root`) accepts. Rotation ids are made in workflow code by its deterministic
 * `uuid4()`, whose hex is the same alphabet.
 */
export const newId = (prefix: string, bits = 72) => `${prefix}_${randomName(Math.ceil(bits / Math.log2(36)))}`;

export const newLeaseId = () => newId('lease', 144);

/** Tokens carry 256 bits; only their SHA-256 is stored. */
export const newToken = () => `svt_${randomBytes(32).toString('base64url')}`;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
