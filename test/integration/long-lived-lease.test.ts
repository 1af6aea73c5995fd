import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { roleExists, validUntil } from '../support/postgres';
import type { Stack } from '../support/stack';

let stack: Stack;
let engine: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, engine } = c));

describe('a lease renewed for a long time', () => {
  it('continues as new before the server caps updates per run, and keeps working', async () => {
    const minted = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: '1h' })).body;
    const handle = stack.temporal.workflow.getHandle(minted.lease_id);
    const firstRun = (await handle.describe()).runId;

    let last;
    for (let i = 0; i < 260; i++) {
      last = await stack.call('POST', `/v1/dynamic/leases/${minted.lease_id}/renew`, { increment: 600 + i });
      expect(last.status, JSON.stringify(last.body)).toBe(200);
    }
    // The workflow starts over after 250 updates in a run (the server caps a run at 2,000), so history
    // stays bounded however long the lease is renewed.
    const runs: number[] = [];
    for await (const run of stack.temporal.workflow.list({ query: `WorkflowId = "${minted.lease_id}"` }))
      runs.push(run.historyLength ?? 0);
    const current = await handle.describe();
    expect(current.runId).not.toBe(firstRun);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const length of [...runs, current.historyLength]) expect(length).toBeLessThan(11_000);
    expect((await validUntil(minted.data.username))?.toISOString()).toBe(last!.body.expires_at);

    expect((await stack.call('DELETE', `/v1/dynamic/leases/${minted.lease_id}`)).status).toBe(204);
    expect(await roleExists(minted.data.username)).toBe(false);
  }, 180_000);
});
