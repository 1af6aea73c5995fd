import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-setup';
import { withGuideStack } from '../support/guide';
import { ADMIN_URL, adminQuery, queryAs, roleExists, type TargetDatabase } from '../support/postgres';
import { exited, runEntry } from '../support/processes';
import { sample } from '../support/prometheus';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
const workers: ChildProcess[] = [];
let gate: { open(): Promise<void> } | undefined;
let minting: Promise<unknown> | undefined;
let inProcessWorker = false;

// No in-process worker: the worker runs as its own process (`npm run worker`), so it can be signalled.
withGuideStack({ withGrantOption: true, worker: false }, (c) => ({ stack, target, engine } = c));
afterAll(async () => {
  // Should the test stop half-way, a mint still waiting needs a worker to answer before the API can close.
  await gate?.open();
  if (minting && !inProcessWorker && !workers.some((w) => w.exitCode === null && w.signalCode === null))
    await stack.startWorker();
  await minting;
  workers.forEach((w) => w.kill('SIGKILL'));
});

function startWorkerProcess(env: Record<string, string> = {}) {
  const worker = runEntry('worker/main.ts', {
    DATABASE_URL: stack.databaseUrl,
    SCAIVAULT_MASTER_KEY: stack.masterKey,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: stack.taskQueue,
    ...env,
  });
  workers.push(worker);
  return worker;
}

/**
 * An advisory lock the test holds in the target database: a creation statement that takes it waits until
 * the test lets go.
 */
const GATE = 73_645_129;

async function lockGate() {
  const client = new pg.Client({ connectionString: ADMIN_URL.replace(/\/[^/]*$/, `/${target.name}`) });
  await client.connect();
  await client.query('SELECT pg_advisory_lock($1)', [GATE]);
  let closed: Promise<void> | undefined;
  return { open: () => (closed ??= client.end()) }; // ending the session releases its lock
}
const waitingAtGate = async () =>
  (
    await adminQuery(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
      [GATE],
    )
  )[0]!.n as number;

describe('a worker stopped with SIGTERM', () => {
  it('finishes the activity in flight, exits 0, and the next worker carries every lease to its end', async () => {
    const metricsPort = await freePort();
    const first = startWorkerProcess({ SCAIVAULT_TEMPORAL_METRICS_ADDR: `127.0.0.1:${metricsPort}` });
    const gated = {
      ...target.guideRole,
      name: 'gated',
      creation_statements: [...target.guideRole.creation_statements, `SELECT pg_advisory_xact_lock(${GATE})`],
    };
    expect((await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, gated)).status).toBe(200);

    // Temporal's own worker metrics, served by the SDK runtime (SCAIVAULT_TEMPORAL_METRICS_ADDR): the worker
    // process is up once it polls (it bundles the workflows first).
    const scrape = () =>
      fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
    const queues = { namespace: 'default', task_queue: stack.taskQueue };
    const polling = await waitFor(
      scrape,
      (text) => (sample(text, 'temporal_num_pollers', { ...queues, poller_type: 'workflow_task' }) ?? 0) > 0,
      90_000,
    );
    expect(sample(polling, 'temporal_worker_start_total', queues), first.output()).toBe(1);

    // A lease that is simply active when the worker stops.
    const active = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    expect(active.status, first.output()).toBe(200);

    // A lease being minted: its creation statements wait at the gate, inside the activity's transaction.
    gate = await lockGate();
    minting = stack.call('POST', `/v1/dynamic/engines/${engine}/creds/gated`, {});
    expect(await waitFor(waitingAtGate, (n) => n === 1, 30_000)).toBe(1);

    first.kill('SIGTERM');
    // The runtime drains: every poller stops, so no new task starts here, while the activity keeps its slot.
    const pollers = (text: string) =>
      ['activity_task', 'workflow_task', 'sticky_workflow_task'].map((poller_type) =>
        sample(text, 'temporal_num_pollers', { ...queues, poller_type }),
      );
    const draining = await waitFor(scrape, (text) => pollers(text).every((n) => n === 0), 30_000);
    expect(pollers(draining)).toEqual([0, 0, 0]);
    // Issuing runs as a local activity (leases from before that change, as a regular one).
    const slotsUsed = ['ActivityWorker', 'LocalActivityWorker'].map(
      (worker_type) => sample(draining, 'temporal_worker_task_slots_used', { ...queues, worker_type }) ?? 0,
    );
    expect(slotsUsed[0]! + slotsUsed[1]!).toBe(1);
    expect(first.exitCode).toBeNull();
    expect(await waitingAtGate()).toBe(1);
    expect((await stack.stores.leases.page({ engine, role: 'gated' }, 100)).length).toBe(0);

    // Let the activity finish: it completes on the stopping worker, which then exits cleanly.
    await gate.open();
    expect(await exited(first), first.output()).toBe(0);
    const [recorded] = await stack.stores.leases.page({ engine, role: 'gated' }, 100);
    expect(recorded?.state).toBe('active');
    expect(await roleExists(recorded!.username)).toBe(true); // the role and its lease row, both: nothing half-done

    // The next worker (in-process: it starts at once from the shared bundle) answers the waiting caller,
    // and both leases end with their roles gone.
    inProcessWorker = true;
    await stack.startWorker();
    const minted = (await minting) as Awaited<ReturnType<Stack['call']>>;
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    expect(minted.body.data.username).toBe(recorded!.username);
    expect(await queryAs(minted.body.data.connection_url, 'SELECT count(*)::int FROM orders')).toBe(42);
    for (const lease of [active.body, minted.body]) {
      expect((await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`)).status).toBe(204);
      expect(await roleExists(lease.data.username)).toBe(false);
    }
  });
});
