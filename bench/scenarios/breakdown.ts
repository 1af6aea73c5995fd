import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createLeaseActivities } from '../../activities/lease';
import { createRole, leaseMarker } from '../../engine/statements';
import { TargetPools } from '../../engine/target-pools';
import type { LeaseProgress, LeaseSpec } from '../../lib/lease';
import { generatePassword, randomName } from '../../lib/random';
import { scramVerifier } from '../../lib/scram';
import { formatExpiration } from '../../lib/templates';
import { dataConverter } from '../../temporal/connection';
import { leasePasswordSeal, openStores, payloadKeyring } from '../../store';
import { migrate } from '../../store/db';
import { installRuntime } from '../../worker/worker';
import { cpuPerOp, cpuSnapshot } from '../lib/cpu';
import { auditGroupCommitLever } from './audit';
import { percentile, runLoad, stats, type RunResult } from '../lib/load';
import { dropDatabaseAndRoles } from '../lib/processes';
import { probeUpdate, type ProbeInput, type probeWorkflow } from '../probe-workflows';
import { apiMint, ms, rate, revokeAll, x, type Figure, type ScenarioContext } from './common';

const EventType = proto.api.enums.v1.EventType;
const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const at = (event: proto.api.history.v1.IHistoryEvent) =>
  Number(event.eventTime!.seconds) * 1000 + (event.eventTime!.nanos ?? 0) / 1e6;

/**
 * The phases of one lease workflow up to its `issue` answer, from its history's event times (ms). With a
 * regular activity: first task, activity dispatch, activity, answering task. With a local activity
 * (MARKER_RECORDED), the activity runs inside the first task and the answer follows it.
 */
function phases(events: proto.api.history.v1.IHistoryEvent[]) {
  const first = (type: number, after = 0) => events.find((e, i) => i >= after && e.eventType === type);
  const index = (e: proto.api.history.v1.IHistoryEvent | undefined) => (e ? events.indexOf(e) : -1);
  const started = first(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  const wft1Start = first(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
  const wft1Done = first(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const updateDone = first(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  if (!started || !wft1Start || !wft1Done || !updateDone) return undefined;
  const actStart = first(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED);
  const actDone = first(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  const local = !actDone || index(actDone) > index(updateDone);
  return {
    local,
    toFirstWorkflowTask: at(wft1Start) - at(started),
    firstWorkflowTask: at(wft1Done) - at(wft1Start),
    activityDispatch: local ? 0 : at(actStart!) - at(wft1Done),
    activity: local ? 0 : at(actDone!) - at(actStart!),
    secondWorkflowTask: at(updateDone) - (local ? at(wft1Done) : at(actDone!)),
    workflowSpan: at(updateDone) - at(started),
  };
}

/**
 * What one lease asks of the Temporal server: history events for the mint (up to the `issue` answer) and for
 * the revocation, and visibility writes (the start, each search-attribute upsert, the close).
 */
/** The histories of the given workflows once they have closed (their results are sealed: only waited for). */
export async function fetchHistories(env: ScenarioContext['env'], ids: string[]) {
  const connection = await Connection.connect({ address: env.config.temporalAddress });
  try {
    const client = new Client({ connection });
    return await Promise.all(
      ids.map(async (id) => {
        const handle = client.workflow.getHandle(id);
        await handle.result().catch(() => undefined);
        return (await handle.fetchHistory()).events ?? [];
      }),
    );
  } finally {
    await connection.close();
  }
}

export function historyFigure(
  ctx: ScenarioContext,
  histories: proto.api.history.v1.IHistoryEvent[][],
  ending: 'revoke' | 'expiry',
): Figure {
  const counts = histories.map((events) => {
    const answered =
      events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED) + 1;
    const upserts = (from: number, to: number) =>
      events.slice(from, to).filter((e) => e.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
        .length;
    return {
      mint: answered,
      end: events.length - answered,
      mintWrites: 1 + upserts(0, answered),
      endWrites: upserts(answered, events.length) + 1,
      endEvents: events.slice(answered).map((e) => EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '')),
    };
  });
  const mean = (key: 'mint' | 'end' | 'mintWrites' | 'endWrites') =>
    counts.reduce((sum, c) => sum + c[key], 0) / Math.max(counts.length, 1);
  const name = `history per ${ending}`;
  const line =
    name.padEnd(20) +
    ` mint ${mean('mint').toFixed(0)} events, ${mean('mintWrites').toFixed(0)} visibility write(s)` +
    ` | ${ending} ${mean('end').toFixed(0)} events, ${mean('endWrites').toFixed(0)} visibility writes` +
    ` | ${counts.length} leases`;
  ctx.log(line);
  return { name, line, data: { counts } };
}

async function timeEach(count: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await op();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Where one mint's time goes: the lease workflow's own history (Temporal's view of each phase), the
 * pieces of the activity timed alone (SCRAM, SQL, store writes), and the API around the workflow. Then
 * the levers Temporal offers, measured on probe workflows on a worker of the benchmark's own.
 */
export async function breakdownScenario(ctx: ScenarioContext): Promise<void> {
  const { env, log } = ctx;
  const count = ctx.traced;
  const role = await env.defineRole(env.shapes.group, 'trace');
  await apiMint(env, role);

  // 1. Mints at concurrency 1, each traced through its workflow history.
  const leaseIds: string[] = [];
  const totals = await timeEach(count, async () => leaseIds.push((await apiMint(env, role)).lease_id));
  const connection = await Connection.connect({ address: env.config.temporalAddress });
  const traced: NonNullable<ReturnType<typeof phases>>[] = [];
  try {
    const client = new Client({ connection });
    for (const id of leaseIds) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      const p = phases(history.events ?? []);
      if (p) traced.push(p);
    }
  } finally {
    await connection.close();
  }
  await revokeAll(env, role);
  ctx.report(historyFigure(ctx, await fetchHistories(env, leaseIds.slice(0, 5)), 'revoke'));

  // 2. The same pieces alone: the API's prelude (auth, engine and role lookups), SCRAM, the SQL, the store writes.
  const prelude = await timeEach(count, () => env.call('GET', `/v1/dynamic/engines/${env.engine}/roles/${role}`));
  const scram = await timeEach(count, () => scramVerifier(generatePassword()));
  const scratch = await scratchStore(ctx);
  try {
    const verifiers = await Promise.all(Array.from({ length: count }, () => scramVerifier(generatePassword())));
    const client = new pg.Client(env.targetConfig);
    await client.connect();
    const names: string[] = [];
    const sql = await timeEach(count, () => {
      const name = `${env.rawPrefix}_sql_${randomName(8)}`;
      names.push(name);
      const values = {
        name,
        password: verifiers[names.length - 1]!,
        expiration: formatExpiration(new Date(Date.now() + 3600_000)),
      };
      return createRole(
        client,
        env.shapes.group.creation,
        values,
        leaseMarker({
          leaseId: 'lease_bench',
          engine: 'bench',
          storeId: 'store_bench',
          issuedAt: new Date().toISOString(),
        }),
      );
    });
    for (const name of names) await client.query(`DROP ROLE IF EXISTS "${name}"`);
    await client.end();
    const upsert = await timeEach(count, () => scratch.stores.leases.upsert(scratch.spec(), newProgress()));
    const audit = await timeEach(count, () =>
      scratch.stores.audit.append({
        identity_id: 'bench',
        action: 'dynamic_generate',
        path: 'bench',
        result: 'success',
        extra_data: { lease_id: 'x' },
      }),
    );

    const pick = (key: Exclude<keyof NonNullable<ReturnType<typeof phases>>, 'local'>) =>
      p50(traced.map((t) => t[key]));
    const total = p50(totals);
    const span = pick('workflowSpan');
    const parts = {
      total,
      apiOutsideWorkflow: total - span,
      preludeAlone: p50(prelude),
      workflowSpan: span,
      toFirstWorkflowTask: pick('toFirstWorkflowTask'),
      firstWorkflowTask: pick('firstWorkflowTask'),
      activityDispatch: pick('activityDispatch'),
      activity: pick('activity'),
      scram: p50(scram),
      sql: p50(sql),
      leaseUpsert: p50(upsert),
      secondWorkflowTask: pick('secondWorkflowTask'),
      auditAppend: p50(audit),
      traced: traced.length,
      localActivity: traced.filter((t) => t.local).length,
    };
    const local = traced.filter((t) => t.local).length > traced.length / 2;
    const activityText = local
      ? `task with createCredential as local activity ${ms(parts.firstWorkflowTask)}` +
        ` (alone: SCRAM ${ms(parts.scram)} + SQL ${ms(parts.sql)} + lease row ${ms(parts.leaseUpsert)})`
      : `task ${ms(parts.firstWorkflowTask)}, activity dispatch ${ms(parts.activityDispatch)},` +
        ` activity ${ms(parts.activity)}` +
        ` (alone: SCRAM ${ms(parts.scram)} + SQL ${ms(parts.sql)} + lease row ${ms(parts.leaseUpsert)})`;
    const line =
      `breakdown c=1 (p50)`.padEnd(20) +
      ` mint ${ms(total)} ms = API outside the workflow ${ms(parts.apiOutsideWorkflow)}` +
      ` [alone: HTTP+auth+lookups ${ms(parts.preludeAlone)}, audit append ${ms(parts.auditAppend)}]` +
      ` + workflow ${ms(span)} [start->task ${ms(parts.toFirstWorkflowTask)}, ${activityText},` +
      ` answer ${ms(parts.secondWorkflowTask)}]` +
      ` | baseline: the SQL alone ${ms(parts.sql)} ms, mint/SQL ${x(total / parts.sql)}`;
    log(line);
    ctx.report({ name: 'breakdown', line, data: parts });
    ctx.report(await auditGroupCommitLever(ctx, scratch.stores.db, count * 20));
    for (const figure of await leverProbes(ctx, scratch)) ctx.report(figure);
  } finally {
    await scratch.close();
  }
}

function newProgress(ttlSeconds = 3600): LeaseProgress {
  const issued = Math.floor(Date.now() / 1000) * 1000;
  return {
    state: 'active',
    issuedAt: new Date(issued).toISOString(),
    expiresAt: new Date(issued + ttlSeconds * 1000).toISOString(),
    maxExpiresAt: new Date(issued + 2 * ttlSeconds * 1000).toISOString(),
  };
}

/**
 * A throwaway store (same schema) holding one engine for the target, so probes and store timings touch no
 * product data.
 */
async function scratchStore(ctx: ScenarioContext) {
  const { env } = ctx;
  const url = env.config.databaseUrl.replace(/\/([^/]*)$/, '/$1_scratch');
  await migrate(url);
  const masterKeys = [Buffer.from(env.config.masterKey, 'base64')];
  const stores = openStores(url, masterKeys, 8);
  const rootPath = 'bench/root';
  await stores.secrets.put(rootPath, { username: env.target.admin, password: env.target.adminPassword }, 'json');
  await stores.engines.create({
    name: 'scratch',
    plugin: 'postgresql',
    connection_url: env.target.connectionUrl,
    root_credentials_path: rootPath,
    credentials_cache_ttl: 300,
    default_ttl: 3600,
    max_ttl: 86400,
    connection_status: 'healthy',
    last_error: null,
    ca_certificate: null,
    statement_timeout: 10,
    lock_timeout: 5,
  });
  const spec = (): LeaseSpec => ({
    leaseId: `lease_${randomBytes(12).toString('base64url')}`,
    engine: 'scratch',
    role: 'probe',
    username: `${env.rawPrefix}_p${randomName(10)}`,
    identityId: 'bench',
    metadata: {},
    ttlSeconds: 3600,
    maxTtlSeconds: 7200,
    defaultIncrementSeconds: 3600,
    statements: { creation: env.shapes.group.creation, revocation: env.shapes.group.revocation, renew: [] },
  });
  return {
    stores,
    masterKeys,
    spec,
    async close() {
      await stores.close();
      const admin = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(new URL(url).pathname.slice(1))} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * Update-with-start on probe workflows: no activity, a no-op one, and the real createCredential, each
 * regular and local.
 */
async function leverProbes(ctx: ScenarioContext, scratch: Awaited<ReturnType<typeof scratchStore>>): Promise<Figure[]> {
  const { env, log } = ctx;
  installRuntime();
  const converter = dataConverter(payloadKeyring(scratch.masterKeys));
  const taskQueue = `${env.tag}-probe`;
  const targets = new TargetPools({ engines: scratch.stores.engines, secrets: scratch.stores.secrets });
  const product = createLeaseActivities({
    targets,
    stores: scratch.stores,
    storeId: 'store_bench_scratch',
    passwords: leasePasswordSeal(scratch.masterKeys),
  });
  const workerConnection = await NativeConnection.connect({ address: env.config.temporalAddress });
  const worker = await Worker.create({
    connection: workerConnection,
    taskQueue,
    workflowsPath: require.resolve('../probe-workflows'),
    dataConverter: converter,
    activities: { noop: async () => 'ok', createCredential: product.createCredential },
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: env.config.temporalAddress });
  const client = new Client({ connection, dataConverter: converter });
  const probe = (input: ProbeInput) => async () => {
    const start = new WithStartWorkflowOperation<typeof probeWorkflow>('probeWorkflow', {
      workflowId: `probe-${randomBytes(9).toString('base64url')}`,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
    });
    await client.workflow.executeUpdateWithStart(probeUpdate, { startWorkflowOperation: start });
  };
  // Eager start hands the first workflow task straight back to a worker sharing the client's NativeConnection;
  // it does not combine with update-with-start, so the answer takes a second call.
  const eagerClient = new Client({ connection: workerConnection as unknown as Connection, dataConverter: converter });
  const eager = (input: ProbeInput) => async () => {
    const handle = await eagerClient.workflow.start<typeof probeWorkflow>('probeWorkflow', {
      workflowId: `probe-${randomBytes(9).toString('base64url')}`,
      taskQueue,
      args: [input],
      requestEagerStart: true,
    });
    await handle.executeUpdate(probeUpdate);
  };
  const credential = (local: boolean): ProbeInput => ({
    step: 'createCredential',
    local,
    credential: { spec: scratch.spec(), progress: newProgress() },
  });
  const variants: [string, () => ProbeInput, ((input: ProbeInput) => () => Promise<void>)?][] = [
    ['no activity', () => ({ step: 'none', local: false })],
    ['no activity, two patches', () => ({ step: 'none', local: false, patches: 2 })],
    ['eager start + update, no activity', () => ({ step: 'none', local: false }), eager],
    ['eager start + update, local createCredential', () => credential(true), eager],
    ['no-op activity', () => ({ step: 'noop', local: false })],
    ['no-op local activity', () => ({ step: 'noop', local: true })],
    ['createCredential activity', () => credential(false)],
    ['createCredential local activity', () => credential(true)],
  ];
  const results: Record<
    string,
    { c1: ReturnType<typeof stats>; c16: ReturnType<typeof stats>; cpu: number; machineBusy: number }
  > = {};
  // The benchmark's own process runs the probes' client and worker; with the Temporal server, that is the
  // CPU an operation costs.
  const pids = { api: process.pid, worker: process.pid, temporal: env.temporal.pid! };
  try {
    await probe({ step: 'noop', local: false })(); // warm the worker
    for (const [name, input, how = probe] of variants) {
      const c1: RunResult = await runLoad(() => how(input())(), { concurrency: 1, maxOps: ctx.traced });
      const before = cpuSnapshot(pids);
      const c16: RunResult = await runLoad(() => how(input())(), {
        concurrency: 16,
        durationMs: (ctx.runSeconds / 2) * 1000,
      });
      const cpu = cpuPerOp(before, cpuSnapshot(pids), c16.ops);
      results[name] = { c1: stats(c1), c16: stats(c16), cpu: cpu.api + cpu.temporal, machineBusy: cpu.machineBusy };
      log(
        `  probe ${name.padEnd(32)} c=1 p50 ${ms(results[name]!.c1.p50)} ms` +
          ` | c=16 ${rate(results[name]!.c16.rate)}/s` +
          ` p50 ${ms(results[name]!.c16.p50)} p99 ${ms(results[name]!.c16.p99)} ms,` +
          ` CPU ${cpu.api.toFixed(1)} (bench) + ${cpu.temporal.toFixed(1)} (temporal) ms/op,` +
          ` machine ${Math.round(cpu.machineBusy * 100)}% busy` +
          `${c1.errors + c16.errors ? ` (${c1.errors + c16.errors} errors: ${c1.firstError ?? c16.firstError})` : ''}`,
      );
    }
  } finally {
    worker.shutdown();
    await running;
    await targets.close();
    await connection.close();
    await workerConnection.close();
    await dropDatabaseAndRoles([], [`${env.rawPrefix}_p`]);
  }
  const regular = results['createCredential activity']!;
  const local = results['createCredential local activity']!;
  const none = results['no activity']!;
  const noop = results['no-op activity']!;
  const line =
    `lever local activity`.padEnd(20) +
    ` createCredential as local activity: c=1 p50 ${ms(local.c1.p50)} ms,` +
    ` c=16 ${rate(local.c16.rate)}/s p99 ${ms(local.c16.p99)} ms` +
    ` | baseline regular activity: c=1 p50 ${ms(regular.c1.p50)} ms,` +
    ` c=16 ${rate(regular.c16.rate)}/s p99 ${ms(regular.c16.p99)} ms` +
    ` | local/regular: p50 ${x(local.c1.p50 / regular.c1.p50)}, rate ${x(local.c16.rate / regular.c16.rate)}`;
  const rtLine =
    `temporal round trip`.padEnd(20) +
    ` update-with-start, no activity: c=1 p50 ${ms(none.c1.p50)} ms, c=16 ${rate(none.c16.rate)}/s` +
    ` | + one no-op activity: p50 ${ms(noop.c1.p50)} ms, ${rate(noop.c16.rate)}/s` +
    ` | activity hop costs ${ms(noop.c1.p50 - none.c1.p50)} ms (${x(noop.c1.p50 / none.c1.p50)})`;
  const eagerStats = results['eager start + update, no activity']!;
  const eagerLine =
    `lever eager start`.padEnd(20) +
    ` eager start + update, no activity: c=1 p50 ${ms(eagerStats.c1.p50)} ms, c=16 ${rate(eagerStats.c16.rate)}/s` +
    ` | baseline update-with-start: c=1 p50 ${ms(none.c1.p50)} ms, c=16 ${rate(none.c16.rate)}/s` +
    ` | eager/uws: p50 ${x(eagerStats.c1.p50 / none.c1.p50)}, rate ${x(eagerStats.c16.rate / none.c16.rate)}`;
  const patches = results['no activity, two patches']!;
  const patchLine =
    `lever no patches`.padEnd(20) +
    ` update-with-start, no activity, no patch: c=16 ${rate(none.c16.rate)}/s, ${none.cpu.toFixed(1)} CPU ms/op` +
    ` | baseline with two patched() calls: c=16 ${rate(patches.c16.rate)}/s, ${patches.cpu.toFixed(1)} CPU ms/op` +
    ` | CPU ${x(none.cpu / patches.cpu)}, rate ${x(none.c16.rate / patches.c16.rate)}`;
  log(line);
  log(rtLine);
  log(eagerLine);
  log(patchLine);
  return [
    { name: 'lever no patches', line: patchLine, data: { none, patches } },
    {
      name: 'lever eager start',
      line: eagerLine,
      data: {
        eager: eagerStats,
        eagerLocalCredential: results['eager start + update, local createCredential'],
        updateWithStart: none,
      },
    },
    { name: 'lever local activity', line, data: results },
    { name: 'temporal round trip', line: rtLine, data: { none, noop } },
  ];
}
