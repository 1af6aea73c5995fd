import pg from 'pg';
import { merge, runLoad, stats } from '../lib/load';
import { cpuPerOp, cpuSnapshot, cpuText, idleCpuRate, threadCpuMs, threadCpuPerOp, threadText } from '../lib/cpu';
import { processIds, revokeEach } from './cpu';
import { recordServer } from '../lib/perf';
import { rssOf } from '../lib/processes';
import { DEFAULT_WORKER_TUNING } from '../../lib/config';
import { expiryScenario } from './expiry';
import {
  apiMint,
  dropRawRoles,
  mb,
  mintLiveLeases,
  rate,
  rawMinter,
  statsText,
  x,
  ms,
  type ScenarioContext,
} from './common';

/**
 * Mint rate and p99 with no live lease and with `live` live leases (group shape, 16 concurrent callers),
 * each beside the raw floor at the same point; the product's memory at both points.
 */
export async function scaleScenario(ctx: ScenarioContext, live: number): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'scale');
  // Beside the worker's RSS, what its JavaScript heaps keep after a full collection: RSS also holds garbage
  // V8 has not collected yet (the same code read 1.03x and 1.13x from 10,000 to 30,000 live in two runs).
  const memory = async () => {
    const worker = env.worker.rss();
    const heap = await env.worker.heapAfterCollection();
    return {
      api: env.api.rss(),
      worker,
      workerHeapKept: heap.kept,
      workerThreads: heap.threads,
      temporal: rssOf(env.temporal.pid!),
    };
  };
  const liveLeases = async () => {
    const store = new pg.Client({ connectionString: env.config.databaseUrl });
    await store.connect();
    try {
      return Number((await store.query(`SELECT count(*) FROM leases WHERE state = 'active'`)).rows[0].count);
    } finally {
      await store.end();
    }
  };
  const probe = async (profileAs: string) => {
    const seconds = ctx.runSeconds / 2;
    const minter = rawMinter(env, env.shapes.group, 16);
    const raw1 = await runLoad(() => minter.mint(), { concurrency: 16, durationMs: seconds * 1000 });
    // What each process burns with nothing asked of it, at this many live leases (subtracted, and printed).
    const pids = processIds(ctx);
    const idle = await idleCpuRate(pids);
    const cpu0 = cpuSnapshot(pids);
    const threads0 = threadCpuMs(pids.worker);
    const stopPerf = recordServer(pids.temporal, profileAs);
    const api = await runLoad(() => apiMint(env, role).then(() => {}), {
      concurrency: 16,
      durationMs: ctx.runSeconds * 1000,
    });
    const cpu = cpuPerOp(cpu0, cpuSnapshot(pids), api.ops, idle);
    await stopPerf();
    const workerThreads = threadCpuPerOp(threads0, threadCpuMs(pids.worker), api.ops);
    const raw2 = await runLoad(() => minter.mint(), { concurrency: 16, durationMs: seconds * 1000 });
    await minter.close();
    await dropRawRoles(env, minter.created);
    return { api: stats(api), raw: stats(merge([raw1, raw2])), minted: api.ops, cpu, workerThreads, idle };
  };

  // Warmed up first (JIT, pools, the workflow cache), or the "at 0" rate reads low and flatters the ratio.
  await runLoad(() => apiMint(env, role).then(() => {}), { concurrency: 16, durationMs: (ctx.runSeconds / 2) * 1000 });
  const live0 = await liveLeases();
  const memory0 = await memory();
  const at0 = await probe('scale-mint-at-0');
  log(
    `  scale: at ${live0} live: api ${statsText(at0.api)} | raw ${statsText(at0.raw)}; filling to ${live} live leases`,
  );
  const fillStart = Date.now();
  const filled: string[] = [];
  const fillTo = (count: number) => mintLiveLeases(env, role, count, filled);
  const fill = await fillTo(live - live0 - at0.minted);
  const fillSeconds = (Date.now() - fillStart) / 1000;
  const liveNow = await liveLeases();
  log(
    `  scale: filled ${fill.ops} in ${fillSeconds.toFixed(0)} s` +
      ` (${rate(fill.ops / fillSeconds)}/s, ${fill.errors} errors)`,
  );
  const memoryN = await memory();
  const atN = await probe(`scale-mint-at-${live}`);

  const rateRatio = atN.api.rate / at0.api.rate;
  const p99Ratio = atN.api.p99 / at0.api.p99;
  const rawRatio = atN.raw.rate / at0.raw.rate;
  const mintLine =
    `scale mint @${liveNow} live`.padEnd(20) +
    ` api ${statsText(atN.api)} | at ${live0} live ${rate(at0.api.rate)}/s p99 ${ms(at0.api.p99)} ms` +
    ` | rate ${x(rateRatio)}, p99 ${x(p99Ratio)} of that` +
    ` | raw floor ${rate(atN.raw.rate)}/s vs ${rate(at0.raw.rate)}/s at 0 (${x(rawRatio)})` +
    ` | per mint ${cpuText(atN.cpu)}, worker by thread ${threadText(atN.workerThreads)}, ${idleText(atN.idle)}` +
    ` | at ${live0} live ${cpuText(at0.cpu)}, worker by thread ${threadText(at0.workerThreads)}, ${idleText(at0.idle)}`;
  const perLease = (after: number, before: number, added: number) => (after - before) / Math.max(added, 1);
  const memoryLine =
    `scale memory @${liveNow}`.padEnd(20) +
    ` worker ${mb(memoryN.worker)} (${x(memoryN.worker / memory0.worker)} of ${mb(memory0.worker)} at ${live0} live,` +
    ` ~${(perLease(memoryN.worker, memory0.worker, liveNow - live0) / 1024).toFixed(1)} KB/lease;` +
    ` ${heapText(memoryN)})` +
    ` | api ${mb(memoryN.api)} (${x(memoryN.api / memory0.api)} of ${mb(memory0.api)})` +
    ` | temporal dev server ${mb(memoryN.temporal)}` +
    ` (${x(memoryN.temporal / memory0.temporal)} of ${mb(memory0.temporal)})`;
  log(mintLine);
  log(memoryLine);
  [
    {
      name: 'scale mint',
      line: mintLine,
      data: {
        live0,
        live: liveNow,
        at0,
        atN,
        fill: { ops: fill.ops, errors: fill.errors, seconds: fillSeconds, firstError: fill.firstError },
      },
    },
    { name: 'scale memory', line: memoryLine, data: { live0, live: liveNow, before: memory0, after: memoryN } },
  ].forEach((figure) => ctx.report(figure));

  // Three times as many: the worker's memory is bounded by its workflow cache, not by the live leases.
  log(`  scale: filling to ${3 * live} live leases`);
  await fillTo(3 * live - liveNow);
  const live3 = await liveLeases();
  const memory3 = await memory();
  const flatLine =
    `scale memory @${live3}`.padEnd(20) +
    ` worker ${mb(memory3.worker)} (${heapText(memory3)}) | at ${liveNow} live ${mb(memoryN.worker)}` +
    ` | ${x(memory3.worker / memoryN.worker)} for ${x(live3 / liveNow)} the leases,` +
    ` heaps kept ${x(memory3.workerHeapKept / memoryN.workerHeapKept)}` +
    ` | api ${mb(memory3.api)}, temporal dev server ${mb(memory3.temporal)}`;
  log(flatLine);
  ctx.report({
    name: 'scale memory flat',
    line: flatLine,
    data: { live: liveNow, live3, atLive: memoryN, atLive3: memory3 },
  });

  // What a lease evicted from the worker's cache costs to end (its history replayed first), beside one still cached.
  const sample = ctx.quick ? 50 : 200;
  const evicted = await revokeCpu(ctx, filled.slice(0, sample));
  const cached = await revokeCpu(ctx, filled.slice(-sample));
  const evictLine =
    `scale evicted revoke`.padEnd(20) +
    ` ${sample} leases evicted from the worker's cache: ${evicted.total.toFixed(1)} CPU ms/lease` +
    ` (worker ${evicted.worker.toFixed(1)}, temporal ${evicted.temporal.toFixed(1)})` +
    ` | baseline ${sample} still cached: ${cached.total.toFixed(1)}` +
    ` (worker ${cached.worker.toFixed(1)}, temporal ${cached.temporal.toFixed(1)})` +
    ` | ${x(evicted.total / cached.total)}`;
  log(evictLine);
  ctx.report({ name: 'scale evicted revoke', line: evictLine, data: { sample, evicted, cached } });

  // The same for an expiry: leases that expire together after the cache has let go of them, beside
  // as many that expire while still cached.
  const mintRate = atN.api.rate;
  const cachedExpiry = await expiryScenario(ctx, sample, mintRate, { label: 'scale cached wave' });
  const evictedExpiry = await expiryScenario(ctx, sample, mintRate, {
    evictWith: DEFAULT_WORKER_TUNING.cachedWorkflows + 100,
    label: 'scale evicted wave',
  });
  const cpuSplit = (run: typeof cachedExpiry) =>
    `${run.cpu.total.toFixed(1)} CPU ms/lease (worker ${run.cpu.worker.toFixed(1)},` +
    ` temporal ${run.cpu.temporal.toFixed(1)}), all gone in ${(run.rolesGoneMs / 1000).toFixed(1)} s`;
  const expiryLine =
    `scale evicted expiry`.padEnd(20) +
    ` ${sample} leases evicted from the worker's cache, expiring in one second: ${cpuSplit(evictedExpiry)}` +
    ` | baseline ${sample} still cached: ${cpuSplit(cachedExpiry)}` +
    ` | ${x(evictedExpiry.cpu.total / cachedExpiry.cpu.total)}`;
  log(expiryLine);
  ctx.report({
    name: 'scale evicted expiry',
    line: expiryLine,
    data: { sample, evicted: evictedExpiry, cached: cachedExpiry },
  });
}

const heapText = (m: { workerHeapKept: number }) => `its JS heaps keep ${mb(m.workerHeapKept)} after a full collection`;

async function revokeCpu(ctx: ScenarioContext, leaseIds: string[]) {
  const pids = processIds(ctx);
  const before = cpuSnapshot(pids);
  const run = await revokeEach(ctx, leaseIds);
  return cpuPerOp(before, cpuSnapshot(pids), run.ops);
}

const idleText = (idle: Record<string, number>) =>
  `idle CPU (subtracted) ${Object.entries(idle)
    .map(([name, perMs]) => `${name} ${(perMs * 100).toFixed(1)}%`)
    .join(', ')}`;
