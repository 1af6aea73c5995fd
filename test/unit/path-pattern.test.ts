import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchesPattern, patternProblem, rulesAllow, type PolicyRule } from '../../lib/path-pattern';

describe('patternProblem', () => {
  it.each(['infra/postgres/reporting/root', 'infra/*', 'infra/post*', '*', 'dynamic/+/creds/readonly', 'dynamic/+/creds/*', 'a.b/c-d/e_f@g'])(
    'accepts %s', (pattern) => expect(patternProblem(pattern)).toBeUndefined());

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
    fc.assert(fc.property(path, path, (a, b) => matchesPattern(a.join('/'), b.join('/')) === (a.join('/') === b.join('/'))));
  });

  it('a trailing "*" matches every path under the prefix and nothing else', () => {
    fc.assert(fc.property(path, path, (prefix, p) =>
      matchesPattern(`${prefix.join('/')}/*`, p.join('/')) === p.join('/').startsWith(`${prefix.join('/')}/`)));
  });

  it('"+" matches any one segment and never two', () => {
    fc.assert(fc.property(path, fc.integer({ min: 0, max: 4 }), segment, (p, index, extra) => {
      const i = index % p.length;
      const pattern = p.map((s, j) => (j === i ? '+' : s)).join('/');
      const twoSegments = p.map((s, j) => (j === i ? `${s}/${extra}` : s)).join('/');
      return matchesPattern(pattern, p.join('/')) && !matchesPattern(pattern, twoSegments);
    }));
  });
});

describe('rulesAllow', () => {
  const generate: PolicyRule = { path_pattern: 'dynamic/reporting-db/creds/readonly', permissions: ['generate', 'renew'] };

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
