import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { roleExists, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;

// No worker runs until the test starts one; callers wait at most two seconds for it.
withGuideStack({ withGrantOption: true, worker: false, workerWaitMs: 2_000 }, (c) => ({ stack, target, engine } = c));

describe('while no worker runs', () => {
  it('answers a mint with 503 instead of hanging, and revokes that lease once a worker is back', async () => {
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(503);
    expect(minted.body.error.code).toBe('engine_unavailable');

    await stack.startWorker();
    // The abandoned lease is issued and at once revoked: it ends revoked, and its role is gone.
    const lease = await waitFor(
      async () => (await stack.stores.db.query<{ state: string; username: string }>('SELECT state, username FROM leases')).rows,
      (rows) => rows.length === 1 && rows[0]!.state === 'revoked',
      30_000,
    );
    expect(lease).toEqual([expect.objectContaining({ state: 'revoked' })]);
    expect(await roleExists(lease[0]!.username)).toBe(false);
    void target;
  });

  it('queues a revocation it could not wait for, and it happens once a worker is back', async () => {
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(minted.status).toBe(200);
    await stack.stopWorker();
    const revoked = await stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}`);
    expect(revoked.status).toBe(202);
    expect(revoked.body.state).toBe('revoking');
    expect(await roleExists(minted.body.data.username)).toBe(true);

    await stack.startWorker();
    const lease = await waitFor(async () => (await stack.call('GET', `/v1/dynamic/leases/${minted.body.lease_id}`)).body, (l) => l.state === 'revoked', 30_000);
    expect(lease.state).toBe('revoked');
    expect(await roleExists(minted.body.data.username)).toBe(false);
  });
});
