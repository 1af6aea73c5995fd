import { z } from 'zod';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const COMPOUND = /^(?:\d+[smhd])+$/;
const PART = /(\d+)([smhd])/g;
/** Ten years: beyond this a duration is a typo, and timers this long overflow nothing but help no one. */
export const MAX_DURATION_SECONDS = 10 * 365 * 86400;

/** Parses "90s", "30m", "1h", "7d", "1h30m" or a whole number of seconds. Returns undefined when malformed. */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 && input <= MAX_DURATION_SECONDS ? input : undefined;
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) return parseDuration(Number(text));
  if (!COMPOUND.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_SECONDS[unit!]!;
  return total <= MAX_DURATION_SECONDS ? total : undefined;
}

/** A request field holding a duration; parses to whole seconds. */
export const durationSchema = z.union([z.string().max(64), z.number()]).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a duration such as "90s", "30m", "1h", "7d", "1h30m" or whole seconds',
    });
    return z.NEVER;
  }
  return seconds;
});

export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}
