import { temporal as proto } from '@temporalio/proto';
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { cpuPerOp, cpuSnapshot, cpuText } from '../lib/cpu';
import { runLoad, sleep } from '../lib/load';
import { fetchHistories, historyFigure } from './breakdown';
import { apiMint, mintLiveLeases, rate, waitUntil, x, type ScenarioContext } from './common';
import { processIds } from './cpu';

/** Leases whose histories are read after a storm, to count the expiries that waited out the sticky queue. */
const SAMPLED = 20;

/**
 * N leases that expire in the same second: the time from that second until every role is gone (and
 * every lease is recorded expired), beside one connection dropping the same number of roles in a loop.
 * With `evictWith`, that many leases of a day are minted after them, so the worker's cache has let go of
 * the expiring ones by their expiry (`label` names the figure).
 */
export async function expiryScenario(
  ctx: ScenarioContext,
  count: number,
  mintRateHint: number,
  { evictWith = 0, label = `expiry storm n=${count}` }: { evictWith?: number; label?: string } = {},
): Promise<{ leases: number; rolesGoneMs: number; cpu: ReturnType<typeof cpuPerOp> }> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'storm');
  const prefix = `v_${role}_`;
  // Leave room for minting all of them at a pessimistic rate before the common expiry second.
  const mintSeconds = (count + evictWith) / Math.max(mintRateHint * 0.6, 2);
  const expirySecond = Math.ceil(Date.now() / 1000 + mintSeconds + 4);
  log(`  expiry storm: minting ${count} leases that all expire at ${new Date(expirySecond * 1000).toISOString()}`);
  const expiries = new Map<string, number>();
  const sampled: string[] = [];
  const minted = await runLoad(
    async () => {
      // A request in the last 100 ms of a second might start its workflow in the next one, one second later.
      if (Date.now() % 1000 > 900) await sleep(1000 - (Date.now() % 1000) + 5);
      const ttl = expirySecond - Math.floor(Date.now() / 1000);
      if (ttl < 2) throw new Error('minting ran past the expiry second');
      const lease = await apiMint(env, role, { ttl });
      if (sampled.length < SAMPLED) sampled.push(lease.lease_id);
      const at = Date.parse(lease.expires_at) / 1000;
      expiries.set(String(at), (expiries.get(String(at)) ?? 0) + 1);
    },
    { concurrency: 16, maxOps: count },
  );
  if (evictWith > 0) {
    const lateRole = await env.defineRole(env.shapes.group, 'evictor');
    const evictors = await mintLiveLeases(env, lateRole, evictWith);
    log(`  expiry: ${evictors.ops} leases of a day minted after them, so the cache has let go of them`);
  }
  const onTime = expiries.get(String(expirySecond)) ?? 0;
  const store = new pg.Client({ connectionString: env.config.databaseUrl });
  const admin = new pg.Client({ ...env.targetConfig, user: 'postgres', password: undefined });
  await Promise.all([store.connect(), admin.connect()]);
  try {
    const roles = async () =>
      Number(
        (await admin.query('SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)', [prefix])).rows[0].count,
      );
    const recorded = async () =>
      Number(
        (await store.query(`SELECT count(*) FROM leases WHERE role = $1 AND state = 'expired'`, [role])).rows[0].count,
      );
    const live = await roles();
    const lateMs = Date.now() - expirySecond * 1000;
    if (lateMs > 0) log(`  minting ran ${lateMs} ms past the expiry second: the storm overlapped the minting`);
    await sleep(Math.max(0, expirySecond * 1000 - Date.now()));
    const t0 = performance.now();
    const cpu0 = cpuSnapshot(processIds(ctx));
    const budgetMs = Math.max(60_000, count * 200);
    const gone = await waitUntil(async () => (await roles()) === 0, budgetMs);
    const rolesGoneMs = performance.now() - t0;
    const allRecorded = await waitUntil(async () => (await recorded()) >= minted.ops, budgetMs);
    const recordedMs = performance.now() - t0;
    // Idle CPU is not subtracted: the storm keeps every process busy from its first second to its last.
    const cpu = cpuPerOp(cpu0, cpuSnapshot(processIds(ctx)), minted.ops);
    const leftRoles = await roles();
    const histories = await fetchHistories(env, sampled);
    const timedOut = histories.filter((events) =>
      events.some((e) => e.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT),
    ).length;

    const raw = await rawDropLoop(ctx, minted.ops);
    const ratio = rolesGoneMs / raw.ms;
    const line =
      label.padEnd(20) +
      ` product: roles gone ${(rolesGoneMs / 1000).toFixed(1)} s (${rate(minted.ops / (rolesGoneMs / 1000))}/s),` +
      ` all recorded expired ${(recordedMs / 1000).toFixed(1)} s` +
      `${gone ? '' : ` (NOT DONE: ${leftRoles} roles left)`}${allRecorded ? '' : ' (NOT ALL RECORDED)'}` +
      ` | raw DROP ROLE loop, 1 conn: ${(raw.ms / 1000).toFixed(2)} s (${rate(raw.perSecond)}/s)` +
      ` | product/raw ${x(ratio)}` +
      ` | ${cpuText(cpu)} (per expiry)` +
      ` | ${timedOut} of ${histories.length} sampled timed out on the sticky queue`;
    log(line);
    ctx.report({
      name: label,
      line,
      data: {
        leases: minted.ops,
        mintErrors: minted.errors,
        liveBeforeExpiry: live,
        expiringInTheSameSecond: onTime,
        expiries: Object.fromEntries(expiries),
        rolesGoneMs,
        recordedMs,
        gone,
        allRecorded,
        leftRoles,
        rawDropMs: raw.ms,
        rawDropPerSecond: raw.perSecond,
        productOverRaw: ratio,
        cpu,
        sampledTimedOutOnStickyQueue: timedOut,
        sampled: histories.length,
      },
    });
    ctx.report(historyFigure(ctx, histories, 'expiry'));
    return { leases: minted.ops, rolesGoneMs, cpu };
  } finally {
    await Promise.all([store.end(), admin.end()]);
  }
}

/** The baseline: as many roles of the same shape, created in one go, then dropped one by one on one connection. */
async function rawDropLoop(ctx: ScenarioContext, count: number) {
  const { env } = ctx;
  const admin = new pg.Client(env.targetConfig);
  await admin.connect();
  try {
    const names = Array.from({ length: count }, (_, i) => `${env.rawPrefix}_drop_${i}`);
    const until = new Date(Date.now() + 3600_000).toISOString();
    await admin.query('BEGIN');
    for (const name of names)
      await admin.query(`CREATE ROLE "${name}" WITH LOGIN VALID UNTIL '${until}' IN ROLE ${env.group}`);
    await admin.query('COMMIT');
    const t0 = performance.now();
    for (const name of names) await admin.query(`DROP ROLE IF EXISTS "${name}"`);
    const elapsed = performance.now() - t0;
    return { ms: elapsed, perSecond: count / (elapsed / 1000) };
  } finally {
    await admin.end();
  }
}

/**
 * A worker or dev server setting against an expiry storm: the storm as shipped, then with `setting` (what
 * it concerns restarted between), the worker's RSS after each.
 */
export async function stormLever(
  ctx: ScenarioContext,
  count: number,
  setting: Record<string, string>,
  mintRateHint: number,
): Promise<void> {
  const { env, log } = ctx;
  const shipped = await expiryScenario(ctx, count, mintRateHint);
  const shippedRss = env.worker.rss();
  // Dotted names are the dev server's dynamic config and GO* its Go runtime's environment (the server and the
  // product restart), the rest the worker's.
  const kind = Object.keys(setting).some((key) => key.includes('.') || key.startsWith('GO')) ? 'temporal' : 'worker';
  await env.restart(kind, setting);
  const larger = await expiryScenario(ctx, count, mintRateHint);
  const largerRss = env.worker.rss();
  await env.restart(kind);
  const perSecond = (r: typeof shipped) => r.leases / (r.rolesGoneMs / 1000);
  const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
  const label = Object.entries(setting)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const line =
    `lever storm`.padEnd(20) +
    ` ${count} expiring, ${label}: ${(larger.rolesGoneMs / 1000).toFixed(1)} s (${rate(perSecond(larger))}/s),` +
    ` worker ${mb(largerRss)}` +
    ` | baseline as shipped: ${(shipped.rolesGoneMs / 1000).toFixed(1)} s (${rate(perSecond(shipped))}/s),` +
    ` worker ${mb(shippedRss)} | time ${x(larger.rolesGoneMs / shipped.rolesGoneMs)}`;
  log(line);
  ctx.report({ name: 'lever storm', line, data: { count, setting, shipped, larger, shippedRss, largerRss } });
}
