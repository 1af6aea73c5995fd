import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markedRoles } from '../../engine/statements';
import { ERROR_STATUS } from '../../lib/errors';
import { storeId } from '../../store/bootstrap';
import pg from 'pg';
import { configureGuideEngine } from '../support/guide';
import type { Answer } from '../support/http';
import { adminQuery, createTargetDatabase, uniqueName, type TargetDatabase } from '../support/postgres';
import { startStack, type Stack } from '../support/stack';

/**
 * Property-based input fuzzing over every route of the contract: random and adversarial bodies, params
 * and queries. Every answer is a 2xx, or a 4xx in the contract's error shape; never a 5xx. Afterwards the
 * store and the target database hold only what an acknowledged request created.
 */
let stack: Stack;
let target: TargetDatabase;
let engine: string;
let role: string;
let rootPath: string;

/** What the API acknowledged: the only things allowed to exist afterwards. */
const acknowledged = {
  leases: new Map<string, string>(),
  secrets: new Set<string>(),
  engines: new Set<string>(),
  roles: new Set<string>(),
};

beforeAll(async () => {
  [stack, target] = await Promise.all([startStack(), createTargetDatabase({ withGrantOption: true })]);
  ({ engine, role, rootPath } = await configureGuideEngine(stack, target, {
    name: uniqueName('fz').replace(/_/g, ''),
  }));
  acknowledged.secrets.add(rootPath);
  acknowledged.engines.add(engine);
  acknowledged.roles.add(`${engine}/${role}`);
});

afterAll(async () => {
  const users = stack
    ? (await stack.stores.db.query<{ username: string }>('SELECT username FROM leases')).rows.map((r) => r.username)
    : [];
  await stack?.stop();
  await target?.drop([...users, ...acknowledged.leases.values()]);
});

// ---------------------------------------------------------------------------------------------------------
// Generators

const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFFFF',
  '\uD800',
  '\uDC00x',
  '😀',
  'é',
  'İ',
  '\u202E',
  'ǅ',
  '\t\n\r',
  '..',
  '.',
  '/',
  '//',
  '../..',
  '../../etc/passwd',
  '..%2F..%2F',
  '%2e%2e/%2e%2e',
  'a/../b',
  'a/./b',
  '%00',
  '%',
  `'; DROP ROLE postgres; --`,
  `" OR 1=1 --`,
  `$$; SELECT pg_sleep(10); $$`,
  `'||pg_terminate_backend(pg_backend_pid())||'`,
  `"; DROP DATABASE postgres; --`,
  'SELECT 1',
  "E'\\x00'",
  '{{name}}',
  '{{password}}',
  '{{expiration}}',
  '{{random}}',
  '{{ role }}',
  '{{engine}}',
  '{{',
  '}}',
  '{{{{name}}}}',
  '{{unknown}}',
  '${process.env}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'true',
  '-1',
  '0',
  '1e309',
  'NaN',
  'Infinity',
  '9'.repeat(400),
  'a'.repeat(63),
  'a'.repeat(64),
  'a'.repeat(70),
  'A'.repeat(10_000),
  'x'.repeat(200_000),
  'root',
  'admin',
  'system:dynamic-engines',
];
const nasty = fc.constantFrom(...NASTY);
const str = fc.oneof(
  { weight: 3, arbitrary: nasty },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }) },
);
const num = fc.oneof(
  fc.integer(),
  fc.constantFrom(
    -1,
    0,
    1,
    2 ** 31,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 63),
    1e308,
    -0,
    0.5,
    1e-9,
    Number.MAX_VALUE,
    315_360_000,
    315_360_001,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const DURATIONS = [
  '-1s',
  '0s',
  '0',
  '1',
  '1s',
  '90s',
  '1h',
  '1h30m',
  '30m',
  '7d',
  '99999999999d',
  '3650d',
  '3651d',
  '1e3',
  '0x10',
  ' 1h',
  '1h ',
  '1H',
  '1w',
  'h',
  '1',
  '٣s',
  '１h',
  '1.5h',
  '+1h',
  '1h-30m',
  '9'.repeat(30) + 's',
];
const duration = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...DURATIONS) },
  { weight: 1, arbitrary: num },
  { weight: 1, arbitrary: str },
);

/** Nested arrays and objects `depth` deep, as a JSON text (JSON.stringify would recurse as deep). */
const deepJson = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
/** Objects and arrays nested 20 to 2,000 deep, anywhere a field goes. */
const deep = fc.integer({ min: 20, max: 2000 }).map((depth) => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
});
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  str,
  num,
  fc.boolean(),
  fc.constant(null),
  deep,
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(str, { maxLength: 5 }),
  fc.dictionary(str, str, { maxKeys: 5 }),
);
/** A field that is usually plausible and sometimes anything at all. */
const field = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: plausible as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyJson });

/** An object with the route's keys, each maybe missing, plus maybe unknown keys. */
function body(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const shaped = fc.record(fields, { requiredKeys: [] });
  const extra = fc.dictionary(fc.oneof(str, fc.constantFrom('__proto__', 'constructor')), anyJson, { maxKeys: 2 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(shaped, extra).map(([a, b]) => ({ ...b, ...a })) },
    { weight: 1, arbitrary: anyJson },
  );
}

const names = () => fc.oneof(fc.constant(engine), fc.constant(role), str);
/**
 * A path segment: usually encoded, sometimes raw so traversal and separators reach the router. At most
 * fastify's maxParamLength (100) and well-formed: over-long and malformed URLs have a test of their own.
 */
const segment = (values: fc.Arbitrary<string>) =>
  fc.tuple(values, fc.boolean()).map(([v, raw]) => {
    const text = raw ? v.replace(/[?#%\s]/g, '') : encodeURIComponent(v);
    return text.length > 100 ? encodeURIComponent(v.slice(0, 20)) : text || '%20';
  });
const query = (keys: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(keys, { requiredKeys: [] }).map((q) => {
    // Under the 16 KB header limit: a longer URL has a test of its own.
    const text = Object.entries(q)
      .map(
        ([k, v]) => `${k}=${encodeURIComponent(typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).slice(0, 3000)}`,
      )
      .join('&');
    return text ? `?${text}` : '';
  });
/** Never the exact names whose loss would blind the rest of the run (the root token, the engine's root secret). */
const notRoot = (v: string) => v !== 'root' && v !== rootPath && v !== engine;

interface Request {
  method: string;
  path: string;
  /** Sent as JSON; a string is sent as it is. */
  body?: unknown;
  token?: string;
  contentType?: string;
}

const secretPaths = () =>
  fc
    .oneof(
      fc.constantFrom(
        'fuzz/a',
        'fuzz/a/b',
        'fuzz/a/versions',
        'a//b',
        '../etc/passwd',
        'a/../b',
        'a/./b',
        '..',
        '.',
        '%2e%2e/x',
        'x'.repeat(600),
      ),
      str,
    )
    .filter(notRoot);

const statements = fc.oneof(
  fc.array(
    field(
      fc.oneof(
        str,
        fc.constantFrom(
          'CREATE ROLE "{{name}}"',
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
          'DROP ROLE IF EXISTS "{{name}}"',
          'SELECT 1',
          'DROP TABLE orders',
          '{{name}}',
          'GRANT "{{name}}" TO postgres',
          "ALTER ROLE postgres PASSWORD 'x'",
          'CREATE ROLE "{{name}}" SUPERUSER',
          'COMMIT',
          'ROLLBACK; DROP TABLE orders',
        ),
      ),
    ),
    { maxLength: 4 },
  ),
  anyJson,
);

/**
 * Every route of the contract (API.md), by its template; one not implemented yet must answer 404 in the
 * error shape.
 */
type Route = [string, () => fc.Arbitrary<Request>];
const get = (path: string): Route => [`GET ${path}`, () => fc.constant({ method: 'GET', path })];
const leaseId = () =>
  segment(fc.oneof(fc.constantFrom('lease_abc', 'lease_', `lease_${'a'.repeat(65)}`, 'lease_../x'), str));
const id = () => segment(str.filter(notRoot));
const engineBody = () =>
  body({
    name: field(names()),
    type: field(fc.constantFrom('database', 'kv')),
    config: field(
      body({
        plugin: field(fc.constantFrom('postgresql', 'mysql')),
        connection_url: field(
          fc.oneof(
            fc.constantFrom(
              target.connectionUrl,
              'postgresql://{{username}}:{{password}}@127.0.0.1:1/x',
              'postgresql://u:literal@h/db',
              'file:///etc/passwd',
              'postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=bogus',
              'http://169.254.169.254/',
            ),
            str,
          ),
        ),
        root_credentials_path: field(fc.oneof(fc.constant(rootPath), secretPaths())),
        credentials_cache_ttl: duration,
      }),
    ),
    default_ttl: duration,
    max_ttl: duration,
  });
const roleBody = () =>
  body({
    name: field(names()),
    creation_statements: statements,
    revocation_statements: statements,
    renew_statements: statements,
    default_ttl: duration,
    max_ttl: duration,
    username_template: field(
      fc.oneof(
        fc.constantFrom(
          'v_{{role}}_{{random}}',
          '{{random}}',
          'x',
          '{{password}}_{{random}}',
          '"; DROP ROLE x; --{{random}}',
        ),
        str,
      ),
    ),
  });
const policyBody = () =>
  body({
    name: field(str),
    rules: field(
      fc.array(
        body({
          path_pattern: field(fc.oneof(fc.constantFrom('*', 'dynamic/+/creds/*', 'a/**', '+', ''), str)),
          permissions: field(
            fc.array(fc.oneof(fc.constantFrom('read', 'write', 'deny', 'generate', 'sudo'), str), { maxLength: 4 }),
          ),
        }),
        { maxLength: 3 },
      ),
    ),
  });
const credsBody = () => body({ ttl: duration, metadata: field(fc.dictionary(str, str, { maxKeys: 4 })) });

const ROUTES: Route[] = [
  [
    'POST /v1/dynamic/engines/:engine/creds/:role',
    () =>
      fc
        .record({ e: segment(names()), r: segment(names()), b: credsBody() })
        .map(({ e, r, b }) => ({ method: 'POST', path: `/v1/dynamic/engines/${e}/creds/${r}`, body: b })),
  ],
  [
    'GET /v1/dynamic/leases',
    () =>
      query({
        engine: field(names()),
        role: field(names()),
        state: field(fc.oneof(fc.constantFrom('active', 'revoked', 'bogus'), str)),
      }).map((q) => ({ method: 'GET', path: `/v1/dynamic/leases${q}` })),
  ],
  [
    'GET /v1/dynamic/leases/:lease_id',
    () => leaseId().map((l) => ({ method: 'GET', path: `/v1/dynamic/leases/${l}` })),
  ],
  [
    'POST /v1/dynamic/leases/:lease_id/renew',
    () =>
      fc
        .tuple(leaseId(), body({ increment: duration }))
        .map(([l, b]) => ({ method: 'POST', path: `/v1/dynamic/leases/${l}/renew`, body: b })),
  ],
  [
    'DELETE /v1/dynamic/leases/:lease_id',
    () =>
      fc
        .tuple(leaseId(), query({ force: field(fc.constantFrom('true', 'false', 'yes')) }))
        .map(([l, q]) => ({ method: 'DELETE', path: `/v1/dynamic/leases/${l}${q}` })),
  ],
  [
    'POST /v1/dynamic/leases/revoke-prefix',
    () =>
      body({ engine: field(names()), role: field(names()) }).map((b) => ({
        method: 'POST',
        path: '/v1/dynamic/leases/revoke-prefix',
        body: b,
      })),
  ],
  [
    'POST /v1/dynamic/engines',
    () => engineBody().map((b) => ({ method: 'POST', path: '/v1/dynamic/engines', body: b })),
  ],
  get('/v1/dynamic/engines'),
  [
    'GET /v1/dynamic/engines/:name',
    () => segment(names()).map((e) => ({ method: 'GET', path: `/v1/dynamic/engines/${e}` })),
  ],
  [
    'PATCH /v1/dynamic/engines/:name',
    () =>
      fc
        .tuple(segment(names()), engineBody())
        .map(([e, b]) => ({ method: 'PATCH', path: `/v1/dynamic/engines/${e}`, body: b })),
  ],
  [
    'DELETE /v1/dynamic/engines/:name',
    () =>
      fc
        .tuple(segment(names().filter(notRoot)), query({ force: field(fc.constantFrom('true', 'false', '1')) }))
        .map(([e, q]) => ({ method: 'DELETE', path: `/v1/dynamic/engines/${e}${q}` })),
  ],
  [
    'POST /v1/dynamic/engines/:engine/roles',
    () =>
      fc
        .tuple(segment(names()), roleBody())
        .map(([e, b]) => ({ method: 'POST', path: `/v1/dynamic/engines/${e}/roles`, body: b })),
  ],
  [
    'GET /v1/dynamic/engines/:engine/roles',
    () => segment(names()).map((e) => ({ method: 'GET', path: `/v1/dynamic/engines/${e}/roles` })),
  ],
  [
    'GET /v1/dynamic/engines/:engine/roles/:name',
    () =>
      fc
        .tuple(segment(names()), segment(names()))
        .map(([e, r]) => ({ method: 'GET', path: `/v1/dynamic/engines/${e}/roles/${r}` })),
  ],
  [
    'PATCH /v1/dynamic/engines/:engine/roles/:name',
    () =>
      fc
        .tuple(segment(names()), segment(names()), roleBody())
        .map(([e, r, b]) => ({ method: 'PATCH', path: `/v1/dynamic/engines/${e}/roles/${r}`, body: b })),
  ],
  [
    'DELETE /v1/dynamic/engines/:engine/roles/:name',
    () =>
      fc
        .tuple(segment(names()), segment(str))
        .map(([e, r]) => ({ method: 'DELETE', path: `/v1/dynamic/engines/${e}/roles/${r}` })),
  ],
  [
    'POST /v1/dynamic/engines/:name/rotate-root',
    () =>
      segment(names().filter(notRoot)).map((e) => ({ method: 'POST', path: `/v1/dynamic/engines/${e}/rotate-root` })),
  ],
  [
    'GET /v1/secrets',
    () => query({ prefix: field(secretPaths()) }).map((q) => ({ method: 'GET', path: `/v1/secrets${q}` })),
  ],
  [
    'GET /v1/secrets/*',
    () =>
      fc
        .tuple(segment(secretPaths()), query({ version: field(fc.oneof(num, str)) }))
        .map(([p, q]) => ({ method: 'GET', path: `/v1/secrets/${p}${q}` })),
  ],
  [
    'PUT /v1/secrets/*',
    () =>
      fc
        .tuple(
          segment(secretPaths()),
          body({ data: field(fc.dictionary(str, anyJson, { maxKeys: 4 })), secret_type: field(str) }),
        )
        .map(([p, b]) => ({ method: 'PUT', path: `/v1/secrets/${p}`, body: b })),
  ],
  ['DELETE /v1/secrets/*', () => segment(secretPaths()).map((p) => ({ method: 'DELETE', path: `/v1/secrets/${p}` }))],
  [
    'POST /v1/auth/tokens',
    () =>
      body({
        identity_id: field(str),
        scopes: field(fc.array(fc.oneof(fc.constantFrom('admin', 'dynamic:generate', 'bogus'), str), { maxLength: 3 })),
        policies: field(fc.array(str, { maxLength: 3 })),
        ttl: duration,
      }).map((b) => ({ method: 'POST', path: '/v1/auth/tokens', body: b })),
  ],
  get('/v1/auth/whoami'),
  ['DELETE /v1/auth/tokens/:token_id', () => id().map((t) => ({ method: 'DELETE', path: `/v1/auth/tokens/${t}` }))],
  [
    'DELETE /v1/auth/identities/:identity_id',
    () => id().map((t) => ({ method: 'DELETE', path: `/v1/auth/identities/${t}` })),
  ],
  ['POST /v1/policies', () => policyBody().map((b) => ({ method: 'POST', path: '/v1/policies', body: b }))],
  get('/v1/policies'),
  ['GET /v1/policies/:id', () => id().map((p) => ({ method: 'GET', path: `/v1/policies/${p}` }))],
  [
    'PUT /v1/policies/:id',
    () => fc.tuple(id(), policyBody()).map(([p, b]) => ({ method: 'PUT', path: `/v1/policies/${p}`, body: b })),
  ],
  ['DELETE /v1/policies/:id', () => id().map((p) => ({ method: 'DELETE', path: `/v1/policies/${p}` }))],
  [
    'POST /v1/policies/:id/bindings',
    () =>
      fc
        .tuple(id(), body({ identity_id: field(str) }))
        .map(([p, b]) => ({ method: 'POST', path: `/v1/policies/${p}/bindings`, body: b })),
  ],
  [
    'DELETE /v1/policies/:id/bindings/:identity_id',
    () => fc.tuple(id(), id()).map(([p, i]) => ({ method: 'DELETE', path: `/v1/policies/${p}/bindings/${i}` })),
  ],
  [
    'GET /v1/audit',
    () =>
      query({
        action: field(str),
        identity_id: field(str),
        since: field(fc.oneof(fc.constantFrom('2020-01-01T00:00:00Z', 'yesterday', '-1'), str)),
        until: field(str),
        limit: field(fc.oneof(num, str)),
      }).map((q) => ({ method: 'GET', path: `/v1/audit${q}` })),
  ],
  get('/v1/audit/verify'),
  get('/v1/sys/health'),
  get('/metrics'),
  [
    'POST /v1/sys/codec/:op',
    () =>
      fc
        .tuple(fc.constantFrom('decode', 'encode'), body({ payloads: field(fc.array(anyJson, { maxLength: 3 })) }))
        .map(([op, b]) => ({ method: 'POST', path: `/v1/sys/codec/${op}`, body: b })),
  ],
  [
    'POST /v1/secret-policies',
    () =>
      body({ name: field(str), length: field(num), charset: field(str), min_digits: field(num) }).map((b) => ({
        method: 'POST',
        path: '/v1/secret-policies',
        body: b,
      })),
  ],
  [
    'POST /v1/rotation/policies',
    () =>
      body({
        name: field(str),
        interval: duration,
        grace_period: duration,
        auto_generate: field(fc.boolean()),
        secret_policy_id: field(str),
      }).map((b) => ({ method: 'POST', path: '/v1/rotation/policies', body: b })),
  ],
  [
    'POST /v1/rotation/policies/:id/secrets',
    () =>
      fc
        .tuple(id(), body({ secret_path: field(secretPaths()) }))
        .map(([p, b]) => ({ method: 'POST', path: `/v1/rotation/policies/${p}/secrets`, body: b })),
  ],
  [
    'POST /v1/rotation/secrets/*/rotate',
    () => segment(secretPaths()).map((p) => ({ method: 'POST', path: `/v1/rotation/secrets/${p}/rotate` })),
  ],
  [
    'GET /v1/rotation/secrets/*',
    () => segment(secretPaths()).map((p) => ({ method: 'GET', path: `/v1/rotation/secrets/${p}` })),
  ],
  [
    'POST /v1/rotation/rotations/:id/confirm',
    () => id().map((r) => ({ method: 'POST', path: `/v1/rotation/rotations/${r}/confirm` })),
  ],
  // Webhook URLs stay on a closed local port: the fuzzer must not make the product call out.
  [
    'POST /v1/webhooks',
    () =>
      body({
        url: field(fc.constantFrom('http://127.0.0.1:9/hook', 'file:///etc/passwd', 'not a url')),
        events: field(fc.array(str, { maxLength: 3 })),
        path_pattern: field(str),
      }).map((b) => ({ method: 'POST', path: '/v1/webhooks', body: b })),
  ],
];

const tokens = () =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    // A header value is Latin-1 without controls: anything else never leaves the client.
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom('', 'Bearer', 'svt_x', 'root', 'x'.repeat(5000)),
        fc.stringMatching(/^[!-~]{0,60}$/),
      ),
    },
  );

// ---------------------------------------------------------------------------------------------------------
// The oracle

const describeRequest = (r: Request, status: number, responseBody: unknown) =>
  `${r.method} ${r.path.slice(0, 300)}${r.path.length > 300 ? '...' : ''}\n` +
  `body: ${JSON.stringify(r.body)?.slice(0, 600)}\n` +
  `-> ${status} ${JSON.stringify(responseBody)?.slice(0, 600)}`;

async function send(request: Request) {
  const { body: sent } = request;
  const response = await fetch(stack.baseUrl + request.path, {
    method: request.method,
    headers: {
      authorization: `Bearer ${request.token ?? stack.rootToken}`,
      ...(sent !== undefined ? { 'content-type': request.contentType ?? 'application/json' } : {}),
    },
    body: sent === undefined ? undefined : typeof sent === 'string' ? sent : JSON.stringify(sent),
  });
  const status = response.status;
  const text = await response.text();
  let answer: Answer['body'] = text;
  try {
    answer = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: the shape check below fails on it */
  }
  const where = describeRequest(request, status, answer);
  record(request, status, answer);
  expect(status, where).toBeGreaterThanOrEqual(200);
  expect(status, where).toBeLessThan(500);
  if (status >= 400) {
    expect(answer, where).toMatchObject({
      error: { code: expect.any(String), message: expect.any(String), request_id: expect.any(String) },
    });
    const code = answer.error.code as keyof typeof ERROR_STATUS;
    expect(ERROR_STATUS[code], where).toBe(status);
    expect(Object.keys(answer), where).toEqual(['error']);
    expect(JSON.stringify(answer), where).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  }
  if (!request.path.startsWith(`/v1/secrets/`)) expect(text, where).not.toContain(target.adminPassword);
  return { status, body: answer };
}

/** Sends each request; reports every one that breaks the contract, not just the first. */
async function sendAll(requests: Request[]) {
  const failures: string[] = [];
  for (const request of requests)
    await send(request).catch((error: Error) => failures.push(error.message.split('\n').slice(0, 3).join('\n')));
  expect(failures, failures.join('\n\n')).toEqual([]);
}

/** Remembers what an acknowledged request created, for the final check. */
function record(request: Request, status: number, answer: Answer['body']) {
  if (status >= 300) return;
  const path = request.path.split('?')[0]!;
  if (request.method === 'POST' && /\/creds\//.test(path) && answer?.lease_id)
    acknowledged.leases.set(answer.lease_id, answer.data.username);
  if (request.method === 'PUT' && path.startsWith('/v1/secrets/') && answer?.path)
    acknowledged.secrets.add(answer.path);
  if (request.method === 'POST' && path === '/v1/dynamic/engines' && answer?.name)
    acknowledged.engines.add(answer.name);
  if (request.method === 'POST' && path.endsWith('/roles') && answer?.name)
    acknowledged.roles.add(`${answer.engine}/${answer.name}`);
}

/** A fixed seed, so a failure reproduces run after run; FUZZ_SEED=<n> explores other inputs. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const runs = (n: number) => ({ numRuns: n, endOnFailure: true, seed: SEED });
const RUNS_PER_ROUTE = 15;

// ---------------------------------------------------------------------------------------------------------

describe('input fuzzing', () => {
  it.each(ROUTES)('%s: a 2xx, or a 4xx in the error shape, for random and adversarial input', async (_name, route) => {
    await fc.assert(
      fc.asyncProperty(route(), tokens(), async (request, token) => void (await send({ ...request, token }))),
      runs(RUNS_PER_ROUTE),
    );
  });

  it(
    'mints with adversarial ttl and metadata: a lease with exactly the metadata sent, ' +
      'or a 4xx and nothing created',
    async () => {
      await fc.assert(
        fc.asyncProperty(credsBody(), async (sent) => {
          const before = acknowledged.leases.size;
          const { status, body: answer } = await send({
            method: 'POST',
            path: `/v1/dynamic/engines/${engine}/creds/${role}`,
            body: sent,
          });
          if (status !== 200) {
            expect(acknowledged.leases.size).toBe(before);
            return;
          }
          expect(answer.data.username).toMatch(/^[a-z0-9_]{1,63}$/);
          const shown = await send({ method: 'GET', path: `/v1/dynamic/leases/${answer.lease_id}` });
          const metadata = (sent as { metadata?: Record<string, string> }).metadata ?? {};
          expect(
            shown.body.metadata,
            describeRequest({ method: 'POST', path: 'creds', body: sent }, status, answer),
          ).toEqual(metadata);
        }),
        runs(40),
      );
    },
  );

  it('refuses a body over the limit with 413 payload_too_large on every route that takes one', async () => {
    const big = JSON.stringify({
      data: { blob: 'x'.repeat(1024 * 1024 + 1) },
      metadata: { blob: 'x'.repeat(1024 * 1024 + 1) },
    });
    for (const [method, path] of [
      ['POST', `/v1/dynamic/engines/${engine}/creds/${role}`],
      ['PUT', '/v1/secrets/fuzz/big'],
      ['POST', '/v1/dynamic/engines'],
      ['POST', `/v1/dynamic/engines/${engine}/roles`],
      ['POST', '/v1/dynamic/leases/lease_abc/renew'],
      ['POST', '/v1/auth/tokens'],
      ['POST', '/v1/policies'],
    ] as const) {
      const { status, body: answer } = await send({ method, path, body: big });
      expect(status, `${method} ${path}`).toBe(413);
      expect(answer.error.code).toBe('payload_too_large');
    }
  });

  it('answers an over-long parameter, a malformed URL and over-large headers in the error shape', async () => {
    await sendAll([
      { method: 'GET', path: `/v1/dynamic/engines/${'a'.repeat(101)}` },
      { method: 'GET', path: `/v1/dynamic/leases/lease_${'a'.repeat(200)}` },
      { method: 'GET', path: '/v1/secrets/a%zz' },
      { method: 'GET', path: `/v1/secrets?prefix=${'x'.repeat(20_000)}` },
    ]);
  });

  it('answers malformed JSON, deep nesting and odd content types with a 4xx', async () => {
    const path = `/v1/dynamic/engines/${engine}/creds/${role}`;
    const raws = [
      '{',
      '{"ttl": }',
      'null',
      '[]',
      '"x"',
      '1',
      deepJson(100),
      deepJson(10_000),
      deepJson(100_000),
      '{"__proto__": {"x": 1}}',
      '{"constructor": {"prototype": {"x": 1}}}',
      '{"ttl": "1h", "ttl": "2h"}',
      '\uFEFF{}',
    ];
    const contentTypes = [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
      'application/jsonx',
    ];
    await sendAll([
      ...raws.flatMap((raw) => [
        { method: 'POST', path, body: raw },
        { method: 'PUT', path: '/v1/secrets/fuzz/raw', body: raw },
      ]),
      ...contentTypes.map((contentType) => ({ method: 'POST', path, body: '{}', contentType })),
    ]);
  });

  it('answers NUL bytes, which JSON and JavaScript allow and Postgres refuses, with a 2xx or a 4xx', async () => {
    const path = `/v1/dynamic/engines/${engine}/creds/${role}`;
    await sendAll([
      { method: 'POST', path, body: { ttl: '1h', metadata: { note: 'a\u0000b' } } },
      { method: 'POST', path, body: { ttl: '1h', metadata: { 'a\u0000b': 'note' } } },
      { method: 'PUT', path: '/v1/secrets/fuzz/nul', body: { data: { a: 'b' }, secret_type: 'a\u0000b' } },
      { method: 'PUT', path: '/v1/secrets/fuzz/nul', body: { data: { 'a\u0000': 'b\u0000' } } },
      { method: 'GET', path: '/v1/secrets?prefix=%00' },
      { method: 'GET', path: '/v1/dynamic/leases?engine=a%00b' },
      { method: 'GET', path: '/v1/audit?action=a%00b&identity_id=%00' },
      { method: 'POST', path: '/v1/auth/tokens', body: { identity_id: 'svc:a\u0000b', scopes: ['dynamic:generate'] } },
      {
        method: 'POST',
        path: '/v1/policies',
        body: { name: 'a\u0000b', rules: [{ path_pattern: 'x\u0000', permissions: ['read'] }] },
      },
    ]);
  });

  it('leaves no role or row that an acknowledged request did not create', async () => {
    const db = stack.stores.db;
    const leases = (
      await db.query<{ lease_id: string; username: string; state: string }>(
        'SELECT lease_id, username, state, metadata, issued_at FROM leases',
      )
    ).rows;
    for (const lease of leases) {
      expect(acknowledged.leases.get(lease.lease_id), `lease row ${JSON.stringify(lease)} was never acknowledged`).toBe(
        lease.username,
      );
    }
    const secrets = (await db.query<{ path: string }>('SELECT DISTINCT path FROM secrets')).rows.map((r) => r.path);
    for (const path of secrets) expect(acknowledged.secrets.has(path), `secret ${path}`).toBe(true);
    const engines = (await db.query<{ name: string }>('SELECT name FROM engines')).rows.map((r) => r.name);
    for (const name of engines) expect(acknowledged.engines.has(name), `engine ${name}`).toBe(true);
    const roles = (await db.query<{ engine: string; name: string }>('SELECT engine, name FROM roles')).rows;
    for (const r of roles)
      expect(acknowledged.roles.has(`${r.engine}/${r.name}`), `role ${r.engine}/${r.name}`).toBe(true);

    // In the target cluster: every role marked as this store's is a lease the API acknowledged, and each
    // acknowledged lease's role exists exactly while its lease is unfinished.
    const ours = await storeId(stack.stores);
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${target.name}` });
    await admin.connect();
    try {
      const marked = (await markedRoles(admin)).filter((m) => m.marker.storeId === ours);
      const usernames = new Set(acknowledged.leases.values());
      for (const m of marked)
        expect(usernames.has(m.username), `role ${m.username} without an acknowledged lease`).toBe(true);
      const states = new Map(leases.map((l) => [l.username, l.state]));
      const existing = new Set(
        (
          await adminQuery<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [
            [...usernames],
          ])
        ).map((r) => r.rolname),
      );
      for (const username of usernames) {
        const state = states.get(username);
        expect(state, `lease of ${username} lost`).toBeDefined();
        if (state === 'revoked' || state === 'expired')
          expect(existing.has(username), `${username} is ${state} but its role exists`).toBe(false);
        if (state === 'active') expect(existing.has(username), `${username} is active but its role is gone`).toBe(true);
      }
    } finally {
      await admin.end();
    }
  });
});
