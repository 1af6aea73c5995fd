import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { roleExists } from '../support/postgres';
import { exited, runEntry } from '../support/processes';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let engine: string;
let worker: ChildProcess | undefined;

const startWorkerProcess = () =>
  runEntry('worker/main.ts', {
    DATABASE_URL: stack.databaseUrl,
    SCAIVAULT_MASTER_KEY: stack.masterKey,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: stack.taskQueue,
  });

// No in-process worker: the worker runs as its own process, so it can be killed.
withGuideStack({ withGrantOption: true, worker: false }, (c) => ({ stack, engine } = c));
beforeAll(() => void (worker = startWorkerProcess()));
afterAll(() => void worker?.kill('SIGKILL'));

describe('a worker killed in the middle of a lease', () => {
  it('still expires the lease on time once a worker is back, and drops its role', async () => {
    const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: 4 });
    expect(minted.status).toBe(200);
    const { lease_id: leaseId, data, expires_at: expiresAt } = minted.body;

    worker!.kill('SIGKILL');
    await exited(worker!);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(expiresAt) - Date.now()) + 1500));
    // Nobody ran the revocation while no worker was alive...
    expect(await roleExists(data.username)).toBe(true);
    // ...though Postgres itself refuses the login after VALID UNTIL.

    worker = startWorkerProcess();
    const lease = await waitFor(
      async () => (await stack.call('GET', `/v1/dynamic/leases/${leaseId}`)).body,
      (l) => l.state === 'expired',
      60_000,
    );
    expect(lease.state).toBe('expired');
    expect(await roleExists(data.username)).toBe(false);
  });
});
