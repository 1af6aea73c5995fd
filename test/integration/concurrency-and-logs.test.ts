import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureGuideEngine, withGuideStack } from '../support/guide';
import { adminQuery, queryAs, roleExists, uniqueName, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';

const PARALLEL = 32;
const LOG_DIR = '/var/log/postgresql';
let stack: Stack;
let target: TargetDatabase;
let group: string;

withGuideStack({ withGrantOption: true, tables: 20, configure: false }, (c) => ({ stack, target } = c));

beforeAll(async () => {
  group = uniqueName('reporting_readonly');
  await adminQuery(`CREATE ROLE ${group} NOLOGIN`);
  await adminQuery(
    `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${group}; GRANT ${group} TO ${target.admin} WITH ADMIN OPTION`,
    [],
    target.name,
  );
  await adminQuery(`ALTER DATABASE ${target.name} SET log_statement = 'ddl'`);
});

afterAll(async () => {
  await adminQuery(`DROP OWNED BY ${group}`, [], target.name);
  await adminQuery(`DROP ROLE IF EXISTS ${group}`);
});

async function mintMany(engine: string, role: string) {
  return Promise.all(
    Array.from({ length: PARALLEL }, () =>
      stack.call('POST', `/v1/dynamic/engines/${engine}/creds/${role}`, { ttl: '10m' }),
    ),
  );
}

describe('many issuances at once', () => {
  it(
    `issues ${PARALLEL} leases in parallel with per-table GRANTs on a 21-table schema, ` + `with no catalog conflict`,
    async () => {
      const { engine } = await configureGuideEngine(stack, target);
      const results = await mintMany(engine, 'readonly');
      expect(results.map((r) => r.status)).toEqual(Array(PARALLEL).fill(200));
      const sample = results[PARALLEL - 1]!.body;
      expect(await queryAs(sample.data.connection_url, 'SELECT count(*)::int FROM orders')).toBe(42);
      const revoked = await stack.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine });
      expect(revoked.body.pending).toEqual([]);
      expect(revoked.body.revoked).toHaveLength(PARALLEL);
    },
  );

  it(`issues ${PARALLEL} leases in parallel with the group-role shape`, async () => {
    const { engine } = await configureGuideEngine(stack, target, {
      name: 'grouped',
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ${group}`,
      ],
      revocation_statements: ['DROP ROLE IF EXISTS "{{name}}"'],
    });
    const results = await mintMany(engine, 'grouped');
    expect(results.map((r) => r.status)).toEqual(Array(PARALLEL).fill(200));
    expect(await queryAs(results[0]!.body.data.connection_url, 'SELECT count(*)::int FROM orders')).toBe(42);
    const revoked = await stack.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine });
    expect(revoked.body.revoked).toHaveLength(PARALLEL);
    for (const r of results.slice(0, 4)) expect(await roleExists(r.body.data.username)).toBe(false);
  });
});

describe('passwords never reach the database server log', () => {
  it('logs the CREATE ROLE under log_statement = ddl with a SCRAM verifier, not the password', async () => {
    const { engine } = await configureGuideEngine(stack, target, { name: 'logged' });
    const { body } = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/logged`, {});
    await new Promise((r) => setTimeout(r, 500)); // the server writes its log asynchronously
    const logs = readdirSync(LOG_DIR)
      .filter((f) => f.startsWith('postgresql-'))
      .map((f) => path.join(LOG_DIR, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    const text = readFileSync(logs[0]!, 'utf8');
    const createLine = text.split('\n').find((line) => line.includes(`CREATE ROLE "${body.data.username}"`));
    expect(createLine, 'the DDL was logged').toBeDefined();
    expect(createLine).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(text).not.toContain(body.data.password);
    expect(await queryAs(body.data.connection_url, 'SELECT 1')).toBe(1);
  });
});
