import { randomName } from './random';

export const STATEMENT_PLACEHOLDERS = ['name', 'password', 'expiration'] as const;
export const USERNAME_PLACEHOLDERS = ['role', 'engine', 'random'] as const;
export const DEFAULT_USERNAME_TEMPLATE = 'v_{{role}}_{{random}}';
export const DEFAULT_REVOCATION_STATEMENTS = [`DROP ROLE IF EXISTS "{{name}}"`];
export const DEFAULT_RENEW_STATEMENTS = [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`];
const MAX_IDENTIFIER_BYTES = 63;
const RANDOM_LENGTH = 10;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Placeholders a template uses that are not in `allowed`. */
export function unknownPlaceholders(template: string, allowed: readonly string[]): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !allowed.includes(name));
}

export function render(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
}

/** `YYYY-MM-DD HH:MM:SS+00`, the form Postgres reads for VALID UNTIL. */
export function formatExpiration(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')}+00`;
}

const toIdentifierPart = (value: string) => value.toLowerCase().replace(/[^a-z0-9_]/g, '_');

/**
 * A lease's database username: `[a-z0-9_]`, at most 63 bytes, always ending in fresh randomness so
 * truncation never makes two leases collide.
 */
export function generateUsername(template: string, role: string, engine: string): string {
  const [before = '', after = ''] = template.split('{{random}}');
  const part = (text: string) => toIdentifierPart(render(text, { role, engine }));
  const tail = part(after).slice(0, MAX_IDENTIFIER_BYTES - RANDOM_LENGTH);
  const head = part(before).slice(0, MAX_IDENTIFIER_BYTES - RANDOM_LENGTH - tail.length);
  return `${head}${randomName(RANDOM_LENGTH)}${tail}`;
}
