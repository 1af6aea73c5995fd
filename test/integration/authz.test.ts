import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteAccess } from '../../api/auth';
import { buildServer } from '../../api/server';
import { SCOPES } from '../../lib/access';
import { hashToken } from '../../lib/random';
import { grant, mintToken } from '../support/auth';
import { waitFor } from '../support/wait';
import { configureGuideEngine, issuedUsernames } from '../support/guide';
import { createTargetDatabase, type TargetDatabase } from '../support/postgres';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
let rootPath: string;

beforeAll(async () => {
  [stack, target] = await Promise.all([startStack(), createTargetDatabase({ withGrantOption: true })]);
  ({ engine, rootPath } = await configureGuideEngine(stack, target));
  const other = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, { ...target.guideRole, name: 'other' });
  expect(other.status).toBe(200);
});

afterAll(async () => {
  const users = stack ? await issuedUsernames(stack) : [];
  await stack?.stop();
  await target?.drop(users);
});

const creds = (role = 'readonly') => `/v1/dynamic/engines/${engine}/creds/${role}`;
const mintLease = async (token?: string, role = 'readonly') => {
  const { status, body } = await stack.call('POST', creds(role), { ttl: '1h' }, token);
  expect(status, JSON.stringify(body)).toBe(200);
  return body.lease_id as string;
};

describe('tokens', () => {
  it('are random, shown once, stored only as their hash, and say who they are', async () => {
    const minted = await mintToken(stack, 'svc:whoami', ['secrets:read'], { ttl: '1h' });
    expect(minted.token).toMatch(/^svt_[A-Za-z0-9_-]{43}$/); // 256 bits
    expect(Date.parse(minted.expires_at!) - Date.now()).toBeGreaterThan(3500_000);
    const [row] = (
      await stack.stores.db.query('SELECT t::text AS text, token_hash FROM tokens t WHERE token_id = $1', [
        minted.token_id,
      ])
    ).rows;
    expect(row.token_hash).toBe(hashToken(minted.token));
    expect(row.text).not.toContain(minted.token);

    const policy = await grant(
      stack,
      'whoami-policy',
      [{ path_pattern: 'app/*', permissions: ['read'] }],
      'svc:whoami',
    );
    const whoami = await stack.call('GET', '/v1/auth/whoami', undefined, minted.token);
    expect(whoami.status).toBe(200);
    expect(whoami.body).toEqual({
      identity_id: 'svc:whoami',
      token_id: minted.token_id,
      scopes: ['secrets:read'],
      policies: [policy],
    });
  });

  it('stop authenticating once expired, revoked, or their identity is deleted', async () => {
    const expiring = await mintToken(stack, 'svc:expiring', ['secrets:read'], { ttl: '1h' });
    await stack.stores.db.query(`UPDATE tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1`, [
      expiring.token_id,
    ]);
    const expired = await stack.call('GET', '/v1/auth/whoami', undefined, expiring.token);
    expect(expired.status).toBe(401);
    expect(expired.body.error).toMatchObject({ code: 'unauthorized', request_id: expect.stringMatching(/^req_/) });

    const own = await mintToken(stack, 'svc:self', ['secrets:read']);
    expect((await stack.call('DELETE', `/v1/auth/tokens/${own.token_id}`, undefined, own.token)).status).toBe(204);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, own.token)).status).toBe(401);

    const doomed = await mintToken(stack, 'user:leaving', ['secrets:read']);
    expect((await stack.call('DELETE', '/v1/auth/identities/user:leaving')).status).toBe(204);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, doomed.token)).status).toBe(401);
    expect((await stack.call('DELETE', '/v1/auth/identities/user:leaving')).status).toBe(404);
    const back = await mintToken(stack, 'user:leaving', ['secrets:read']);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, back.token)).status).toBe(200);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, doomed.token)).status).toBe(401);
  });

  it('may be revoked by their own identity or an admin, not by anyone else', async () => {
    const alice = await mintToken(stack, 'user:alice', ['secrets:read']);
    const bob = await mintToken(stack, 'user:bob', ['secrets:read']);
    expect((await stack.call('DELETE', `/v1/auth/tokens/${alice.token_id}`, undefined, bob.token)).status).toBe(403);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, alice.token)).status).toBe(200);
    expect((await stack.call('DELETE', `/v1/auth/tokens/${alice.token_id}`)).status).toBe(204);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, alice.token)).status).toBe(401);
    expect((await stack.call('DELETE', '/v1/auth/tokens/tok_nosuch')).status).toBe(404);
  });

  it('refuse bad requests with 400: unknown scope, unknown policy, zero ttl', async () => {
    const cases = [
      { identity_id: 'svc:x', scopes: ['superuser'] },
      { identity_id: 'svc:x', scopes: [] },
      { identity_id: 'svc:x', scopes: ['secrets:read'], policies: ['pol_nosuch'] },
      { identity_id: 'svc:x', scopes: ['secrets:read'], ttl: 0 },
      { identity_id: 'has space', scopes: ['secrets:read'] },
    ];
    for (const body of cases) {
      const { status, body: error } = await stack.call('POST', '/v1/auth/tokens', body);
      expect(status, JSON.stringify(body)).toBe(400);
      expect(error.error.code).toBe('invalid_request');
    }
  });
});

describe('policies', () => {
  it('round-trip: create 201 with a pol_ id, read, replace, bind, unbind, delete', async () => {
    const rules = [{ path_pattern: 'infra/postgres/reporting/root', permissions: ['read', 'rotate'] }];
    const created = await stack.call('POST', '/v1/policies', { name: 'dynamic-reporting-db-root', rules });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^pol_/),
      name: 'dynamic-reporting-db-root',
      rules,
      bindings: [],
    });
    const id = created.body.id;
    expect((await stack.call('POST', '/v1/policies', { name: 'dynamic-reporting-db-root', rules })).status).toBe(409);
    const bound = await stack.call('POST', `/v1/policies/${id}/bindings`, { identity_id: 'system:dynamic-engines' });
    expect(bound).toEqual({ status: 201, body: { policy_id: id, identity_id: 'system:dynamic-engines' } });
    const replaced = await stack.call('PUT', `/v1/policies/${id}`, {
      name: 'renamed',
      rules: [{ path_pattern: 'infra/*', permissions: ['read'] }],
    });
    expect(replaced.body).toMatchObject({ id, name: 'renamed', bindings: ['system:dynamic-engines'] });
    expect((await stack.call('GET', `/v1/policies/${id}`)).body.rules).toEqual([
      { path_pattern: 'infra/*', permissions: ['read'] },
    ]);
    expect((await stack.call('DELETE', `/v1/policies/${id}/bindings/system:dynamic-engines`)).status).toBe(204);
    expect((await stack.call('DELETE', `/v1/policies/${id}`)).status).toBe(204);
    expect((await stack.call('GET', `/v1/policies/${id}`)).status).toBe(404);
  });

  it.each([
    ['a bad pattern', [{ path_pattern: 'infra/*/root', permissions: ['read'] }], /path_pattern/],
    ['a "+" inside a segment', [{ path_pattern: 'dynamic/a+b/creds', permissions: ['read'] }], /whole segment/],
    ['an unknown permission', [{ path_pattern: 'infra/*', permissions: ['sudo'] }], /permissions/],
    ['no permission', [{ path_pattern: 'infra/*', permissions: [] }], /permissions/],
    ['no rule', [], /rules/],
  ])('refuse %s with 400', async (_what, rules, message) => {
    const { status, body } = await stack.call('POST', '/v1/policies', { name: 'malformed', rules });
    expect(status).toBe(400);
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(message);
  });
});

describe('the root credential', () => {
  it('is readable by system:dynamic-engines once the guide binds its policy, and by no other non-admin', async () => {
    const engines = await mintToken(stack, 'system:dynamic-engines', ['secrets:read']);
    // deny by default
    expect((await stack.call('GET', `/v1/secrets/${rootPath}`, undefined, engines.token)).status).toBe(403);

    const policy = await grant(
      stack,
      'guide-root',
      [{ path_pattern: rootPath, permissions: ['read', 'rotate'] }],
      'system:dynamic-engines',
    );
    const read = await stack.call('GET', `/v1/secrets/${rootPath}`, undefined, engines.token);
    expect(read.status).toBe(200);
    expect(read.body.data.username).toBe(target.admin);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, engines.token)).body.policies).toContain(policy);

    const nosy = await mintToken(stack, 'svc:nosy', ['secrets:read', 'secrets:write']);
    await grant(stack, 'nosy-infra', [{ path_pattern: 'infra/*', permissions: ['read', 'write'] }], 'svc:nosy');
    expect((await stack.call('PUT', '/v1/secrets/infra/other', { data: { a: '1' } }, nosy.token)).status).toBe(200);
    expect((await stack.call('GET', '/v1/secrets/infra/other', undefined, nosy.token)).status).toBe(200);
    const refused = await stack.call('GET', `/v1/secrets/${rootPath}`, undefined, nosy.token);
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).not.toContain(target.adminPassword);
    expect(
      (await stack.call('PUT', `/v1/secrets/${rootPath}`, { data: { username: 'x', password: 'y' } }, nosy.token))
        .status,
    ).toBe(403);
  });
});

describe('a scoped service token', () => {
  let service: string;
  beforeAll(async () => {
    service = (await mintToken(stack, 'svc:reporting', ['dynamic:generate'])).token;
    await grant(
      stack,
      'reporting-readonly',
      [{ path_pattern: `dynamic/${engine}/creds/readonly`, permissions: ['generate'] }],
      'svc:reporting',
    );
  });

  it('mints, renews and revokes its own lease, which records its identity', async () => {
    const leaseId = await mintLease(service);
    expect((await stack.call('GET', `/v1/dynamic/leases/${leaseId}`)).body.identity_id).toBe('svc:reporting');
    const renewed = await stack.call('POST', `/v1/dynamic/leases/${leaseId}/renew`, { increment: '2h' }, service);
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${leaseId}`, undefined, service)).status).toBe(204);
    expect((await stack.call('GET', `/v1/dynamic/leases/${leaseId}`)).body.state).toBe('revoked');
  });

  it('gets 403 on another role, on engines, on leases it does not own, on listing and on secrets', async () => {
    const forbidden = [
      await stack.call('POST', creds('other'), {}, service),
      await stack.call('GET', `/v1/dynamic/engines/${engine}`, undefined, service),
      await stack.call('GET', `/v1/dynamic/leases?engine=${engine}`, undefined, service),
      await stack.call('GET', `/v1/secrets/${rootPath}`, undefined, service),
      await stack.call('GET', '/v1/secrets/app/config', undefined, service),
    ];
    const rootLease = await mintLease();
    forbidden.push(await stack.call('POST', `/v1/dynamic/leases/${rootLease}/renew`, {}, service));
    forbidden.push(await stack.call('DELETE', `/v1/dynamic/leases/${rootLease}`, undefined, service));
    for (const response of forbidden) {
      expect(response.status, JSON.stringify(response.body)).toBe(403);
      expect(response.body.error.code).toBe('forbidden');
    }
    expect((await stack.call('GET', `/v1/dynamic/leases/${rootLease}`)).body.state).toBe('active');
  });

  it('loses generate when a bound deny covers the path: deny wins', async () => {
    const denied = (await mintToken(stack, 'svc:denied', ['dynamic:generate'])).token;
    await grant(
      stack,
      'denied-generate',
      [{ path_pattern: `dynamic/${engine}/creds/readonly`, permissions: ['generate'] }],
      'svc:denied',
    );
    await grant(stack, 'denied-all', [{ path_pattern: `dynamic/+/creds/*`, permissions: ['deny'] }], 'svc:denied');
    expect((await stack.call('POST', creds(), {}, denied)).status).toBe(403);
  });

  it("may renew and revoke another identity's lease only with the renew/revoke permission on its path", async () => {
    const operator = (await mintToken(stack, 'svc:operator', ['dynamic:generate'])).token;
    const rootLease = await mintLease();
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${rootLease}`, undefined, operator)).status).toBe(403);
    await grant(
      stack,
      'operator',
      [{ path_pattern: `dynamic/${engine}/creds/*`, permissions: ['renew', 'revoke'] }],
      'svc:operator',
    );
    expect((await stack.call('POST', `/v1/dynamic/leases/${rootLease}/renew`, {}, operator)).status).toBe(200);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${rootLease}`, undefined, operator)).status).toBe(204);
    expect((await stack.call('POST', creds(), {}, operator)).status).toBe(403); // renew/revoke do not imply generate
  });
});

describe('the authorization table', () => {
  let app: FastifyInstance;
  let routes: RouteAccess[];
  let samples: Record<string, string>;
  const tokens = new Map<string, string>();
  /** One token per identity, minted on first use. */
  const tokenFor = async (identity: string, scopes: string[]) => {
    if (!tokens.has(identity)) tokens.set(identity, (await mintToken(stack, identity, scopes)).token);
    return tokens.get(identity)!;
  };
  let stranger: string;

  beforeAll(async () => {
    app = await buildServer({
      stores: stack.stores,
      temporal: stack.temporal,
      taskQueue: stack.taskQueue,
      masterKeys: stack.masterKeys,
      logLevel: 'silent',
      authFailureLimit: { max: 10_000, windowMs: 60_000 },
    });
    await app.ready();
    routes = app.accessTable;
    const policy = await grant(stack, 'matrix', [{ path_pattern: 'matrix/*', permissions: ['deny'] }]);
    const victim = await mintToken(stack, 'svc:victim', ['secrets:read']);
    samples = {
      engine,
      name: engine,
      role: 'readonly',
      lease_id: await mintLease(),
      id: policy,
      token_id: victim.token_id,
      identity_id: 'svc:victim',
      '*': 'matrix/secret',
    };
    stranger = (await mintToken(stack, 'svc:stranger', ['secrets:read'])).token;
  });
  afterAll(() => app?.close());

  const concrete = (url: string) =>
    url.replace(/:(\w+)|\*/g, (match, name: string | undefined) => samples[name ?? match]!);
  const call = (route: RouteAccess, token?: string) =>
    app.inject({
      method: route.method as 'GET',
      url: concrete(route.url),
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it('covers the contract routes, and only health and the codec sign-in page are public', () => {
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    for (const expected of [
      'POST /v1/auth/tokens',
      'GET /v1/auth/whoami',
      'DELETE /v1/auth/tokens/:token_id',
      'POST /v1/policies',
      'PUT /v1/policies/:id',
      'POST /v1/policies/:id/bindings',
      'GET /v1/audit',
      'GET /v1/audit/verify',
      'GET /v1/secrets/*',
      'POST /v1/dynamic/engines/:engine/creds/:role',
      'DELETE /v1/dynamic/leases/:lease_id',
    ])
      expect(keys).toContain(expected);
    // GET + HEAD each; the sign-in page is static HTML whose form posts the token as a bearer header; the
    // OpenAPI document describes the routes, as Vault's is public.
    expect(routes.filter((r) => 'public' in r.access).map((r) => r.url)).toEqual([
      '/v1/sys/health',
      '/v1/sys/health',
      '/v1/sys/ready',
      '/v1/sys/ready',
      '/v1/sys/openapi.json',
      '/v1/sys/openapi.json',
      '/v1/sys/codec/session',
      '/v1/sys/codec/session',
    ]);
    expect(routes.length).toBeGreaterThan(30);
  });

  it(
    'refuses every guarded route without a token (401), with a token lacking its scope (403), ' +
      'and without a policy for its path (403)',
    async () => {
      const failures: string[] = [];
      const expectStatus = (route: RouteAccess, what: string, actual: number, expected: number) => {
        if (actual !== expected) failures.push(`${route.method} ${route.url} ${what}: ${actual}, expected ${expected}`);
      };
      for (const route of routes.filter((r) => !('public' in r.access))) {
        expectStatus(route, 'without a token', (await call(route)).statusCode, 401);
        expectStatus(route, 'with a bad token', (await call(route, 'svt_not-a-real-token')).statusCode, 401);
        const access = route.access;
        if ('authenticated' in access) {
          // whoami answers any live token; revoking a token checks ownership in the service.
          expectStatus(
            route,
            'as a stranger',
            (await call(route, stranger)).statusCode,
            route.url === '/v1/auth/whoami' ? 200 : 403,
          );
          continue;
        }
        if ('public' in access) continue;
        const name = access.scope.replace(':', '-');
        const allOtherScopes = await tokenFor(
          `svc:without-${name}`,
          SCOPES.filter((s) => s !== access.scope && s !== 'admin'),
        );
        expectStatus(route, `without ${access.scope}`, (await call(route, allOtherScopes)).statusCode, 403);
        if (access.permission) {
          const scopeOnly = await tokenFor(`svc:only-${name}`, [access.scope]);
          expectStatus(route, `with ${access.scope} but no policy`, (await call(route, scopeOnly)).statusCode, 403);
        }
      }
      expect(failures).toEqual([]);
    },
  );
});

describe('failed authentications', () => {
  const limitedApp = (max: number, windowMs = 60_000, trustProxy?: string) =>
    buildServer({
      stores: stack.stores,
      temporal: stack.temporal,
      taskQueue: stack.taskQueue,
      masterKeys: stack.masterKeys,
      logLevel: 'silent',
      authFailureLimit: { max, windowMs },
      trustProxy,
    });

  it(
    'are rate-limited per source address with 429, while other sources, and valid tokens from the same one, ' +
      'still pass',
    async () => {
      const app = await limitedApp(5);
      try {
        const whoami = (token: string, remoteAddress = '10.0.0.1') =>
          app.inject({
            method: 'GET',
            url: '/v1/auth/whoami',
            headers: { authorization: `Bearer ${token}` },
            remoteAddress,
          });
        for (let i = 0; i < 5; i++) expect((await whoami(`svt_guess-${i}`)).statusCode).toBe(401);
        const limited = await whoami('svt_guess-6');
        expect(limited.statusCode).toBe(429);
        expect(limited.json().error.code).toBe('rate_limited');
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        expect((await whoami(stack.rootToken)).statusCode).toBe(200);
        expect((await whoami(stack.rootToken, '10.0.0.2')).statusCode).toBe(200);
      } finally {
        await app.close();
      }
    },
  );

  it(
    '150 bad tokens, then a good one from the same address: the good one passes, and the flood is two audit entries, ' +
      'not 150',
    async () => {
      const address = `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const app = await limitedApp(100, 1_000);
      const entries = async () =>
        (
          await stack.stores.db.query(
            `SELECT extra_data FROM audit_log WHERE action = 'auth_fail' ` +
              `AND extra_data->>'remote_address' = $1 ORDER BY id`,
            [address],
          )
        ).rows.map((r) => r.extra_data as Record<string, unknown>);
      try {
        const whoami = (token: string) =>
          app.inject({
            method: 'GET',
            url: '/v1/auth/whoami',
            headers: { authorization: `Bearer ${token}` },
            remoteAddress: address,
          });
        const statuses = [];
        for (let i = 0; i < 150; i++) statuses.push((await whoami(`svt_flood-${i}`)).statusCode);
        expect(statuses.filter((s) => s === 401).length).toBe(100);
        expect(statuses.filter((s) => s === 429).length).toBe(50);
        expect((await whoami(stack.rootToken)).statusCode).toBe(200);
        expect(await entries()).toHaveLength(1); // the first, in full; the rest are counted
        await waitFor(entries, (rows) => rows.length === 2, 5_000);
        expect((await entries())[1]).toMatchObject({ aggregated: true, count: 149, remote_address: address });
      } finally {
        await app.close();
      }
    },
  );

  it('key on the forwarded address only behind a trusted proxy', async () => {
    const trusting = await limitedApp(1, 60_000, '127.0.0.1');
    const plain = await limitedApp(1, 60_000);
    try {
      const guess = (app: FastifyInstance, forwardedFor: string) =>
        app.inject({
          method: 'GET',
          url: '/v1/auth/whoami',
          remoteAddress: '127.0.0.1',
          headers: { authorization: 'Bearer svt_guess', 'x-forwarded-for': forwardedFor },
        });
      // Behind the trusted proxy each client is its own source; without trust the proxy is one source for all.
      expect((await guess(trusting, '203.0.113.1')).statusCode).toBe(401);
      expect((await guess(trusting, '203.0.113.2')).statusCode).toBe(401);
      expect((await guess(plain, '203.0.113.1')).statusCode).toBe(401);
      expect((await guess(plain, '203.0.113.2')).statusCode).toBe(429);
    } finally {
      await trusting.close();
      await plain.close();
    }
  });
});
