import { randomInt } from 'node:crypto';

/** How a generated value looks. `charset` is the literal set of characters a value is drawn from. */
export interface SecretPolicyRules {
  length: number;
  charset: string;
  min_digits: number;
  min_lowercase: number;
  min_uppercase: number;
  min_symbols: number;
}

export const DEFAULT_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** A generated value must be worth guessing: at least this many bits of entropy. */
export const MIN_ENTROPY_BITS = 64;

const CLASSES = {
  min_digits: /[0-9]/,
  min_lowercase: /[a-z]/,
  min_uppercase: /[A-Z]/,
  min_symbols: /[^A-Za-z0-9]/,
} as const;

/** Printable ASCII without space: SCRAM's SASLprep is then the identity, and no value needs quoting in a URL's eyes. */
const PRINTABLE = /^[\x21-\x7e]+$/;

/** The distinct characters of a charset, in first-seen order. */
export const distinct = (charset: string) => [...new Set(charset)].join('');

/** Why the rules cannot produce a good value, or undefined. */
export function secretPolicyProblem(rules: SecretPolicyRules): string | undefined {
  if (!PRINTABLE.test(rules.charset))
    return 'charset must hold printable ASCII characters only (no space, no control characters)';
  const charset = distinct(rules.charset);
  if (charset.length < 2) return 'charset must hold at least two distinct characters';
  let required = 0;
  for (const [field, pattern] of Object.entries(CLASSES) as [keyof typeof CLASSES, RegExp][]) {
    const min = rules[field];
    required += min;
    if (min > 0 && !pattern.test(charset)) return `${field} is ${min} but the charset has no such character`;
  }
  if (required > rules.length) return `the minimums add up to ${required}, more than length ${rules.length}`;
  const bits = rules.length * Math.log2(charset.length);
  if (bits < MIN_ENTROPY_BITS)
    return (
      `values would carry ${Math.floor(bits)} bits of entropy; ` +
      `at least ${MIN_ENTROPY_BITS} are needed (longer length or larger charset)`
    );
  return undefined;
}

/** A value following the rules, from the crypto RNG: the minimums first, the rest from the whole set, then shuffled. */
export function generateSecretValue(rules: SecretPolicyRules): string {
  const charset = distinct(rules.charset);
  const chars: string[] = [];
  for (const [field, pattern] of Object.entries(CLASSES) as [keyof typeof CLASSES, RegExp][]) {
    const pool = [...charset].filter((c) => pattern.test(c));
    for (let i = 0; i < rules[field]; i++) chars.push(pool[randomInt(pool.length)]!);
  }
  while (chars.length < rules.length) chars.push(charset[randomInt(charset.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

/**
 * The field a rotation replaces: `password` when the secret has one (a username stays as it is),
 * otherwise its only field. Undefined when the secret has neither shape.
 */
export function rotatedField(data: Record<string, unknown>): string | undefined {
  if (typeof data.password === 'string') return 'password';
  const keys = Object.keys(data);
  return keys.length === 1 && typeof data[keys[0]!] === 'string' ? keys[0] : undefined;
}
