import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createRole, leaseMarker } from '../../engine/statements';
import { scramVerifier } from '../../lib/scram';
import { adminQuery, ADMIN_URL, uniqueName, type TargetDatabase } from '../support/postgres';
import { withGuideStack } from '../support/guide';
import type { Stack } from '../support/stack';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
let rootPath: string;
const extraRoles: string[] = [];

withGuideStack(
  { withGrantOption: true, engineConfig: { credentials_cache_ttl: '1s' } },
  (c) => ({ stack, target, engine, rootPath } = c),
);
afterAll(async () => {
  for (const role of extraRoles) {
    await adminQuery(`DROP OWNED BY ${role}`, [], target.name).catch(() => {});
    await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  }
});

describe('creating a lease role', () => {
  it(
    'is idempotent: a retry after a lost answer neither fails nor leaves a second role, ' + 'and sets the new password',
    async () => {
      const name = uniqueName('v_retry');
      extraRoles.push(name);
      const client = new pg.Client({ connectionString: ADMIN_URL.replace(/\/[^/]*$/, `/${target.name}`) });
      await client.connect();
      try {
        const statements = [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
          'GRANT SELECT ON orders TO "{{name}}"',
        ];
        const marker = leaseMarker({
          leaseId: 'lease_x',
          engine: 'e',
          storeId: 's',
          issuedAt: new Date().toISOString(),
        });
        const first = await scramVerifier('first-password');
        const second = await scramVerifier('second-password');
        await createRole(client, statements, { name, password: first, expiration: '2030-01-01 00:00:00+00' }, marker);
        await createRole(client, statements, { name, password: second, expiration: '2031-01-01 00:00:00+00' }, marker);
        const rows = await adminQuery<{ rolpassword: string; rolvaliduntil: Date }>(
          'SELECT rolpassword, rolvaliduntil FROM pg_authid WHERE rolname = $1',
          [name],
        );
        expect(rows).toHaveLength(1);
        expect(rows[0]!.rolpassword).toBe(second);
        expect(rows[0]!.rolvaliduntil.toISOString()).toBe('2031-01-01T00:00:00.000Z');
      } finally {
        await client.end();
      }
    },
  );
});

describe("the engine's connection pool", () => {
  it('moves to a rotated root credential after credentials_cache_ttl', async () => {
    const admin2 = uniqueName('scaivault_admin_next');
    extraRoles.push(admin2);
    await adminQuery(`CREATE ROLE ${admin2} WITH LOGIN PASSWORD 'next-password' CREATEROLE`);
    await adminQuery(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${admin2} WITH GRANT OPTION`, [], target.name);
    expect((await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})).status).toBe(200);
    await stack.call('PUT', `/v1/secrets/${rootPath}`, {
      data: { username: admin2, password: 'next-password' },
      secret_type: 'json',
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(200);
    const users = await adminQuery<{ usename: string }>(
      `SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND application_name = 'scaivault'`,
      [target.name],
    );
    expect(users.map((u) => u.usename)).toContain(admin2);
  });
});
