import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withGuideStack, type GuideContext } from '../support/guide';
import { adminQuery, queryAs, roleExists, uniqueName } from '../support/postgres';

/**
 * The product on a store it does not own: the role store/least-privilege.sql sets up (LOGIN and table
 * grants, nothing more) runs the API and the worker, and the audit log stays out of its reach.
 */
const appRole = uniqueName('sv_app');
let c: GuideContext;
withGuideStack({ withGrantOption: true, appRole }, (context) => (c = context));

describe('the store under a least-privilege role', () => {
  it('is a plain login role that owns nothing in the store', async () => {
    const [role] = await adminQuery(
      'SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = $1',
      [appRole],
    );
    expect(role).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolbypassrls: false });
    expect(new URL(c.stack.databaseUrl).username).toBe(appRole);
    const owned = await adminQuery(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1`,
      [appRole],
      new URL(c.stack.databaseUrl).pathname.slice(1),
    );
    expect(owned).toEqual([]);
  });

  it('runs the whole lease story, secrets and the audit log', async () => {
    const minted = await c.stack.call('POST', `/v1/dynamic/engines/${c.engine}/creds/readonly`, { ttl: '1h' });
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    expect(await queryAs(minted.body.data.connection_url, 'SELECT count(*) FROM orders')).toBeDefined();
    expect(
      (await c.stack.call('POST', `/v1/dynamic/leases/${minted.body.lease_id}/renew`, { increment: '30m' })).status,
    ).toBe(200);
    expect((await c.stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}`)).status).toBe(204);
    expect(await roleExists(minted.body.data.username)).toBe(false);
    expect((await c.stack.call('PUT', '/v1/secrets/app/least/privilege', { data: { v: 1 } })).status).toBe(200);
    expect((await c.stack.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true });
  });

  it('cannot rewrite, delete or truncate the audit log, nor switch its triggers off', async () => {
    const asApp = new pg.Client({ connectionString: c.stack.databaseUrl });
    await asApp.connect();
    try {
      for (const sql of [
        `UPDATE audit_log SET identity_id = 'someone-else'`,
        'DELETE FROM audit_log',
        'TRUNCATE audit_log',
        'ALTER TABLE audit_log DISABLE TRIGGER USER',
        'DROP TRIGGER audit_log_no_update_or_delete ON audit_log',
        'SET session_replication_role = replica',
      ]) {
        await expect(asApp.query(sql), sql).rejects.toThrow(/permission denied|must be owner/);
      }
    } finally {
      await asApp.end();
    }
    expect((await c.stack.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true });
  });
});
