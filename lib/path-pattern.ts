import type { Permission } from './access';

/**
 * Policy path patterns: an exact path, `+` standing for exactly one whole segment, and an optional
 * trailing `*` that makes the pattern a prefix (it may end a segment: `infra/*`, `infra/post*`).
 */
const LITERAL_SEGMENT = /^[A-Za-z0-9_.@-]+$/;
export const MAX_PATTERN_LENGTH = 512;

export interface PolicyRule {
  path_pattern: string;
  permissions: Permission[];
}

/** Why a pattern is malformed, or undefined when it is well formed. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `must be at most ${MAX_PATTERN_LENGTH} characters`;
  if (pattern === '*') return undefined;
  const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
  if (prefix.includes('*')) return '"*" may only end the pattern';
  const segments = prefix.split('/');
  // A trailing "*" right after a slash leaves one empty last segment: "infra/*".
  const last = pattern.endsWith('*') ? segments.pop() : undefined;
  if (last === '+') return '"+*" is ambiguous: write "+/*" or a literal prefix before "*"';
  if (last !== undefined && last !== '' && !LITERAL_SEGMENT.test(last)) return `bad segment "${last}*"`;
  for (const segment of segments) {
    if (segment === '') return 'must not contain an empty segment';
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments';
    if (segment === '+') continue;
    if (segment.includes('+')) return '"+" must stand alone as a whole segment';
    if (!LITERAL_SEGMENT.test(segment)) return `bad segment "${segment}": use letters, digits, "_", "-", ".", "@"`;
  }
  return undefined;
}

const compiled = new Map<string, RegExp>();

function toRegExp(pattern: string): RegExp {
  let regex = compiled.get(pattern);
  if (!regex) {
    const prefix = pattern.endsWith('*');
    const body = (prefix ? pattern.slice(0, -1) : pattern)
      .split('/')
      .map((segment) => (segment === '+' ? '[^/]+' : segment.replace(/[.]/g, '\\.')))
      .join('/');
    regex = new RegExp(`^${body}${prefix ? '.*' : ''}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, regex);
  }
  return regex;
}

/** Whether a well-formed pattern matches the path; a malformed pattern matches nothing. */
export function matchesPattern(pattern: string, path: string): boolean {
  if (patternProblem(pattern)) return false;
  return toRegExp(pattern).test(path);
}

/** Deny by default; any matching `deny` wins over every grant. */
export function rulesAllow(rules: PolicyRule[], permission: Permission, path: string): boolean {
  let granted = false;
  for (const rule of rules) {
    if (!matchesPattern(rule.path_pattern, path)) continue;
    if (rule.permissions.includes('deny')) return false;
    if (rule.permissions.includes(permission)) granted = true;
  }
  return granted;
}

/** Whether a matching rule denies the path outright (`deny` wins even for a lease's own creator). */
export const rulesDeny = (rules: PolicyRule[], path: string) =>
  rules.some((rule) => rule.permissions.includes('deny') && matchesPattern(rule.path_pattern, path));
