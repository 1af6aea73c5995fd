import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  matchesPattern,
  patternCovers,
  patternProblem,
  patternsOverlap,
  rulesAllow,
  rulesAllowAll,
  type PolicyRule,
} from '../../lib/path-pattern';

describe('patternProblem', () => {
  it.each([
    'infra/postgres/reporting/root',
    'infra/*',
    'infra/post*',
    '*',
    'dynamic/+/creds/readonly',
    'dynamic/+/creds/*',
    'a.b/c-d/e_f@g',
  ])('accepts %s', (pattern) => expect(patternProblem(pattern)).toBeUndefined());

  it.each([
    ['', /empty/],
    ['infra/*/root', /only end/],
    ['**', /only end/],
    ['infra//root', /empty segment/],
    ['/infra', /empty segment/],
    ['infra/', /empty segment/],
    ['infra/../root', /"\.\."/],
    ['dynamic/a+b/creds', /whole segment/],
    ['dynamic/+*', /ambiguous/],
    ['infra/ro ot', /bad segment/],
    ['infra/ro$ot*', /bad segment/],
    ['x'.repeat(513), /at most/],
  ])('rejects %j', (pattern, message) => expect(patternProblem(pattern)).toMatch(message));
});

describe('matchesPattern', () => {
  it.each([
    ['infra/postgres/reporting/root', 'infra/postgres/reporting/root', true],
    ['infra/postgres/reporting/root', 'infra/postgres/reporting/root2', false],
    ['infra/postgres/reporting/root', 'infra/postgres/reporting', false],
    ['infra/*', 'infra/postgres/reporting/root', true],
    ['infra/*', 'infra', false],
    ['infra/*', 'infrastructure/x', false],
    ['infra/post*', 'infra/postgres/x', true],
    ['*', 'anything/at/all', true],
    ['dynamic/+/creds/readonly', 'dynamic/reporting-db/creds/readonly', true],
    ['dynamic/+/creds/readonly', 'dynamic/a/b/creds/readonly', false],
    ['dynamic/+/creds/readonly', 'dynamic//creds/readonly', false],
    ['dynamic/+/creds/*', 'dynamic/reporting-db/creds/writer', true],
    ['a.b', 'aXb', false],
    ['infra/*/root', 'infra/x/root', false],
  ])('%s on %s is %s', (pattern, path, expected) => expect(matchesPattern(pattern, path)).toBe(expected));

  const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
  const path = fc.array(segment, { minLength: 1, maxLength: 5 });

  it('an exact pattern matches exactly its own path', () => {
    fc.assert(
      fc.property(path, path, (a, b) => matchesPattern(a.join('/'), b.join('/')) === (a.join('/') === b.join('/'))),
    );
  });

  it('a trailing "*" matches every path under the prefix and nothing else', () => {
    fc.assert(
      fc.property(
        path,
        path,
        (prefix, p) =>
          matchesPattern(`${prefix.join('/')}/*`, p.join('/')) === p.join('/').startsWith(`${prefix.join('/')}/`),
      ),
    );
  });

  it('"+" matches any one segment and never two', () => {
    fc.assert(
      fc.property(path, fc.integer({ min: 0, max: 4 }), segment, (p, index, extra) => {
        const i = index % p.length;
        const pattern = p.map((s, j) => (j === i ? '+' : s)).join('/');
        const twoSegments = p.map((s, j) => (j === i ? `${s}/${extra}` : s)).join('/');
        return matchesPattern(pattern, p.join('/')) && !matchesPattern(pattern, twoSegments);
      }),
    );
  });
});

describe('rulesAllow', () => {
  const generate: PolicyRule = {
    path_pattern: 'dynamic/reporting-db/creds/readonly',
    permissions: ['generate', 'renew'],
  };

  it('denies by default', () => {
    expect(rulesAllow([], 'read', 'anything')).toBe(false);
    expect(rulesAllow([generate], 'read', 'dynamic/reporting-db/creds/readonly')).toBe(false);
    expect(rulesAllow([generate], 'generate', 'dynamic/reporting-db/creds/writer')).toBe(false);
  });

  it('grants a listed permission on a matching path', () => {
    expect(rulesAllow([generate], 'generate', 'dynamic/reporting-db/creds/readonly')).toBe(true);
  });

  it('lets deny win over any grant, in either order', () => {
    const deny: PolicyRule = { path_pattern: 'dynamic/*', permissions: ['deny'] };
    expect(rulesAllow([generate, deny], 'generate', 'dynamic/reporting-db/creds/readonly')).toBe(false);
    expect(rulesAllow([deny, generate], 'generate', 'dynamic/reporting-db/creds/readonly')).toBe(false);
  });

  it('ignores a malformed stored pattern rather than matching with it', () => {
    expect(rulesAllow([{ path_pattern: 'infra/*/root', permissions: ['read'] }], 'read', 'infra/*/root')).toBe(false);
  });
});

describe('patterns against patterns', () => {
  it.each([
    ['*', 'infra/postgres/*', true],
    ['infra/*', 'infra/postgres/*', true],
    ['infra/*', 'infra/+/root', true],
    ['infra/post*', 'infra/postgres/root', true],
    ['infra/post*', 'infra/postgres*', true],
    ['infra/post*', 'infra/pos*', false],
    ['infra/post*', 'infra/+/root', false],
    ['infra/+/root', 'infra/db/root', true],
    ['infra/+/root', 'infra/+/root', true],
    ['infra/db/root', 'infra/+/root', false],
    ['infra/+', 'infra/*', false],
    ['infra/*', 'infra', false],
    ['infra/*', '*', false],
    ['infra*', 'infra', true],
    ['infra/db/*', 'infra/*', false],
  ])('%s covers %s: %s', (outer, inner, expected) => expect(patternCovers(outer, inner)).toBe(expected));

  it.each([
    ['infra/db/root', 'infra/*', true],
    ['infra/db/root', 'infra/+/root', true],
    ['infra/db/root', 'infra/+', false],
    ['infra/post*', 'infra/pos*', true],
    ['infra/post*', 'infra/other/*', false],
    ['infra/+/x/*', 'infra/db/*', true],
    ['infra/*', 'infra', false],
    ['infra*', 'infra', true],
    ['*', 'a/b', true],
    ['a/b', 'a/c', false],
  ])('%s meets %s: %s', (a, b, expected) => {
    expect(patternsOverlap(a, b)).toBe(expected);
    expect(patternsOverlap(b, a)).toBe(expected);
  });

  // Small alphabets so that random patterns and paths often meet.
  const literal = fc.constantFrom('a', 'ab', 'b');
  const segmentOrPlus = fc.oneof(literal, fc.constant('+'));
  const patternArb = fc
    .tuple(fc.array(segmentOrPlus, { maxLength: 3 }), fc.option(fc.constantFrom('', 'a', 'ab'), { nil: undefined }))
    .filter(([segments, tail]) => segments.length > 0 || tail !== undefined)
    .map(([segments, tail]) => (tail === undefined ? segments.join('/') : [...segments, `${tail}*`].join('/')))
    .filter((pattern) => patternProblem(pattern) === undefined);
  const pathArb = fc.array(literal, { minLength: 1, maxLength: 5 }).map((segments) => segments.join('/'));

  it('a pattern covering another matches every path the other matches', () => {
    fc.assert(
      fc.property(
        patternArb,
        patternArb,
        pathArb,
        (outer, inner, path) =>
          !(patternCovers(outer, inner) && matchesPattern(inner, path)) || matchesPattern(outer, path),
      ),
      { numRuns: 5000 },
    );
  });

  it('a pattern covers itself, and a pattern that misses one of its paths does not cover it', () => {
    fc.assert(
      fc.property(patternArb, patternArb, pathArb, (outer, inner, path) => {
        expect(patternCovers(inner, inner)).toBe(true);
        return !(matchesPattern(inner, path) && !matchesPattern(outer, path)) || !patternCovers(outer, inner);
      }),
      { numRuns: 5000 },
    );
  });

  it('two patterns that match one path overlap', () => {
    fc.assert(
      fc.property(
        patternArb,
        patternArb,
        pathArb,
        (a, b, path) =>
          !(matchesPattern(a, path) && matchesPattern(b, path)) || (patternsOverlap(a, b) && patternsOverlap(b, a)),
      ),
      { numRuns: 5000 },
    );
  });

  it('grants on a pattern only what covers it, and a deny anywhere inside refuses it', () => {
    const rotateDb: PolicyRule = { path_pattern: 'infra/db/*', permissions: ['rotate'] };
    expect(rulesAllowAll([rotateDb], 'rotate', 'infra/db/+/root')).toBe(true);
    expect(rulesAllowAll([rotateDb], 'rotate', 'infra/*')).toBe(false);
    expect(rulesAllowAll([rotateDb], 'read', 'infra/db/*')).toBe(false);
    expect(
      rulesAllowAll([rotateDb, { path_pattern: 'infra/db/prod/root', permissions: ['deny'] }], 'rotate', 'infra/db/*'),
    ).toBe(false);
    expect(
      rulesAllowAll([rotateDb, { path_pattern: 'infra/other/*', permissions: ['deny'] }], 'rotate', 'infra/db/*'),
    ).toBe(true);
  });
});
