import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createLeaseActivities } from '../../activities/lease';
import { TargetPools } from '../../engine/target-pools';
import { leasePasswordSeal } from '../../store';
import { configureGuideEngine, withGuideStack, type GuideContext } from '../support/guide';
import { adminQuery, roleExists, uniqueName } from '../support/postgres';
import { waitFor } from '../support/wait';

/** Deleting an engine ends its leases for good, however the deletion and its mints interleave. */
let c: GuideContext;
withGuideStack({ withGrantOption: true, configure: false, workerWaitMs: 3_000 }, (context) => (c = context));

describe('deleting an engine', () => {
  it('while mints run: every credential handed out is revoked, no role is left, and the engine is gone', async () => {
    const { engine } = await configureGuideEngine(c.stack, c.target);
    const mints = Array.from({ length: 12 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 15)).then(() =>
        c.stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {}),
      ),
    );
    await new Promise((r) => setTimeout(r, 60));
    let deleted = await c.stack.call('DELETE', `/v1/dynamic/engines/${engine}?force=true`);
    const answers = await Promise.all(mints);
    for (let tries = 0; deleted.status === 409 && tries < 20; tries++) {
      await new Promise((r) => setTimeout(r, 500));
      deleted = await c.stack.call('DELETE', `/v1/dynamic/engines/${engine}?force=true`);
    }
    expect([204, 404], JSON.stringify(deleted.body)).toContain(deleted.status);
    const issued = answers
      .filter((a) => a.status === 200)
      .map((a) => a.body as { lease_id: string; data: { username: string } });
    for (const refused of answers.filter((a) => a.status !== 200)) expect([404, 503]).toContain(refused.status);
    // Mints that came after the deletion began found the engine gone; the others were revoked with it.
    const settled = await waitFor(
      async () =>
        (await c.stack.stores.db.query<{ state: string }>('SELECT state FROM leases WHERE engine = $1', [engine])).rows,
      (rows) => rows.every((r) => r.state === 'revoked' || r.state === 'expired'),
      30_000,
    );
    expect(settled.every((r) => r.state === 'revoked' || r.state === 'expired')).toBe(true);
    for (const lease of issued) expect(await roleExists(lease.data.username)).toBe(false);
    const stranded = await adminQuery(
      `SELECT rolname FROM pg_roles WHERE rolname LIKE 'v_readonly_%' AND shobj_description(oid, 'pg_authid') LIKE $1`,
      [`%${engine}%`],
    );
    expect(stranded).toEqual([]);
    expect((await c.stack.call('GET', `/v1/dynamic/engines/${engine}`)).status).toBe(404);
    expect((await c.stack.stores.db.query('SELECT 1 FROM engines WHERE name = $1', [engine])).rowCount).toBe(0);
  });

  it('whose row is gone altogether: a lease queued for it ends, recorded, instead of retrying forever', async () => {
    const { engine } = await configureGuideEngine(c.stack, c.target);
    await c.stack.stopWorker();
    try {
      const queued = await c.stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
      expect(queued.status).toBe(503); // no worker issued it: abandoned, to be revoked when one runs
      // As a store edited by hand, or an older version's deletion, leaves it.
      await c.stack.stores.db.query('DELETE FROM engines WHERE name = $1', [engine]);
    } finally {
      await c.stack.startWorker();
    }
    const workflows = c.stack.temporal.workflow.list({ query: `ScaiVaultEngine = "${engine}"` });
    const ids: string[] = [];
    for await (const w of workflows) ids.push(w.workflowId);
    expect(ids).toHaveLength(1);
    const ended = await waitFor(
      async () => (await c.stack.temporal.workflow.getHandle(ids[0]!).describe()).status.name,
      (s) => s !== 'RUNNING',
      30_000,
    );
    expect(ended).toBe('COMPLETED');
  });

  it('between a role and its record: the issue refuses and drops the role it created', async () => {
    const { engine } = await configureGuideEngine(c.stack, c.target);
    const role = (await c.stack.stores.roles.get(engine, 'readonly'))!;
    const activities = createLeaseActivities({
      targets: new TargetPools({ engines: c.stack.stores.engines, secrets: c.stack.stores.secrets }),
      stores: c.stack.stores,
      storeId: 'store_deletion',
      passwords: leasePasswordSeal(c.stack.masterKeys),
    });
    const leaseId = uniqueName('lease');
    const username = uniqueName('v_readonly_gone');
    const now = new Date();
    const later = new Date(now.getTime() + 60_000).toISOString();
    // As a deletion that commits while the role is being created: the tombstone is there before the record.
    await c.stack.stores.db.query('UPDATE engines SET deleted_at = now() WHERE name = $1', [engine]);
    const issue = new MockActivityEnvironment().run(activities.createCredential, {
      spec: {
        leaseId,
        engine,
        role: 'readonly',
        username,
        identityId: 'svc:deletion',
        metadata: {},
        ttlSeconds: 60,
        maxTtlSeconds: 60,
        defaultIncrementSeconds: 60,
        statements: {
          creation: role.creation_statements,
          revocation: role.revocation_statements,
          renew: role.renew_statements,
        },
      },
      progress: { state: 'active' as const, issuedAt: now.toISOString(), expiresAt: later, maxExpiresAt: later },
    });
    await expect(issue).rejects.toMatchObject({ type: 'EngineGone', nonRetryable: true });
    expect(await roleExists(username)).toBe(false);
    expect((await c.stack.stores.db.query('SELECT 1 FROM leases WHERE lease_id = $1', [leaseId])).rowCount).toBe(0);
  });
});
