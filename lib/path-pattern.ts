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

/**
 * A well-formed pattern as whole segments (`+` or literal) and, for a prefix pattern, what the last one
 * starts with.
 */
interface Shape {
  segments: string[];
  /** Defined for a prefix pattern: the text after the last whole segment's slash, before `*` ('' for `infra/*`). */
  tail?: string;
}

function shapeOf(pattern: string): Shape {
  if (!pattern.endsWith('*')) return { segments: pattern.split('/') };
  const parts = pattern.slice(0, -1).split('/');
  const tail = parts.pop()!;
  return { segments: parts, tail };
}

/** Whether a whole segment of the covering pattern takes in every segment the other one stands for. */
const segmentCovers = (outer: string, inner: string) => outer === '+' || outer === inner;
const segmentsMeet = (a: string, b: string) => a === '+' || b === '+' || a === b;
/** Whether a whole segment can begin with `tail` (a `+` stands for any segment, so it can). */
const segmentCanStart = (segment: string, tail: string) => segment === '+' || segment.startsWith(tail);

/** Whether every path `inner` matches, `outer` matches too: a grant on `outer` is a grant on all of `inner`. */
export function patternCovers(outer: string, inner: string): boolean {
  if (patternProblem(outer) || patternProblem(inner)) return false;
  const o = shapeOf(outer);
  const i = shapeOf(inner);
  const k = o.segments.length;
  if (i.segments.length < k || !o.segments.every((segment, n) => segmentCovers(segment, i.segments[n]!))) return false;
  if (o.tail === undefined) return i.tail === undefined && i.segments.length === k;
  if (i.segments.length > k) return i.segments[k] !== '+' ? i.segments[k]!.startsWith(o.tail) : o.tail === '';
  return i.tail !== undefined && i.tail.startsWith(o.tail);
}

/** Whether some path matches both patterns. */
export function patternsOverlap(a: string, b: string): boolean {
  if (patternProblem(a) || patternProblem(b)) return false;
  let x = shapeOf(a);
  let y = shapeOf(b);
  if (x.tail === undefined && y.tail === undefined) {
    return (
      x.segments.length === y.segments.length && x.segments.every((segment, n) => segmentsMeet(segment, y.segments[n]!))
    );
  }
  // Let x be the prefix pattern whose whole segments end first.
  if (x.tail === undefined || (y.tail !== undefined && y.segments.length < x.segments.length)) [x, y] = [y, x];
  const k = x.segments.length;
  if (y.segments.length < k || !x.segments.every((segment, n) => segmentsMeet(segment, y.segments[n]!))) return false;
  if (y.segments.length > k) return segmentCanStart(y.segments[k]!, x.tail!);
  return y.tail !== undefined && (y.tail.startsWith(x.tail!) || x.tail!.startsWith(y.tail));
}

/**
 * Whether the rules grant `permission` on every path a pattern matches: a rule holding it covers the
 * pattern, and no `deny` reaches any path in it.
 */
export function rulesAllowAll(rules: PolicyRule[], permission: Permission, pattern: string): boolean {
  if (rules.some((rule) => rule.permissions.includes('deny') && patternsOverlap(rule.path_pattern, pattern)))
    return false;
  return rules.some((rule) => rule.permissions.includes(permission) && patternCovers(rule.path_pattern, pattern));
}
