import pg from 'pg';
import { cpuPerOp, cpuSnapshot, cpuText, idleCpuRate, threadCpuMs, threadCpuPerOp, threadText } from '../lib/cpu';
import { runLoad, sleep, stats } from '../lib/load';
import { recordServer } from '../lib/perf';
import { apiMint, rate, revokeAll, statsText, waitUntil, type ScenarioContext } from './common';

/**
 * What one lease costs in CPU, per process (API, worker, Temporal server, Postgres), from /proc deltas:
 * `count` mints at c=16, the same leases revoked at c=16, then `count` leases expiring in the same second.
 * Idle CPU (pollers, timers) measured just before is subtracted. The number every lever is judged by.
 */
export const processIds = ({ env }: ScenarioContext) => ({
  api: env.api.child.pid!,
  worker: env.worker.child.pid!,
  temporal: env.temporal.pid!,
});

/** Revokes each lease through the API at c=16; anything but 204 is a failed operation. */
export const revokeEach = ({ env }: ScenarioContext, leaseIds: string[]) =>
  runLoad(
    async (i) => {
      const response = await env.call('DELETE', `/v1/dynamic/leases/${leaseIds[i]}`);
      if (response.status !== 204) throw new Error(`revoke: ${response.status} ${JSON.stringify(response.body)}`);
    },
    { concurrency: 16, maxOps: leaseIds.length },
  );

/**
 * `count` mints at c=16, then the same leases revoked at c=16: CPU per lease of each, less idle CPU. With
 * BENCH_PERF, the dev server's profile of each phase as `<profileAs>-mint` and `-revoke`.
 */
export async function leaseCpu(ctx: ScenarioContext, role: string, count: number, profileAs = 'lease') {
  const { env } = ctx;
  const pids = processIds(ctx);
  for (let i = 0; i < 20; i++) await apiMint(env, role);
  await revokeAll(env, role);
  const idle = await idleCpuRate(pids);
  const leases: string[] = [];
  const s0 = cpuSnapshot(pids);
  const workerThreads0 = threadCpuMs(pids.worker);
  let stopPerf = recordServer(pids.temporal, `${profileAs}-mint`);
  const mints = await runLoad(async () => void leases.push((await apiMint(env, role)).lease_id), {
    concurrency: 16,
    maxOps: count,
  });
  const s1 = cpuSnapshot(pids);
  await stopPerf();
  stopPerf = recordServer(pids.temporal, `${profileAs}-revoke`);
  const revokes = await revokeEach(ctx, leases);
  const s2 = cpuSnapshot(pids);
  await stopPerf();
  const workerThreads = threadCpuPerOp(workerThreads0, threadCpuMs(pids.worker), revokes.ops);
  return {
    mintCpu: cpuPerOp(s0, s1, mints.ops, idle),
    revokeCpu: cpuPerOp(s1, s2, revokes.ops, idle),
    workerThreads,
    mints,
    revokes,
    idle,
  };
}

export async function cpuScenario(ctx: ScenarioContext, count: number): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'cpu');
  const { mintCpu, revokeCpu, workerThreads, mints, revokes, idle } = await leaseCpu(ctx, role, count);
  const mintLine = `cpu mint c=16`.padEnd(20) + ` ${cpuText(mintCpu)} | ${statsText(stats(mints))}`;
  const revokeLine = `cpu revoke c=16`.padEnd(20) + ` ${cpuText(revokeCpu)} | ${statsText(stats(revokes))}`;
  const leaseLine =
    `cpu lease`.padEnd(20) +
    ` mint + revoke: ${(mintCpu.total + revokeCpu.total).toFixed(1)} CPU ms per lease` +
    ` (api ${(mintCpu.api + revokeCpu.api).toFixed(1)}, worker ${(mintCpu.worker + revokeCpu.worker).toFixed(1)},` +
    ` temporal ${(mintCpu.temporal + revokeCpu.temporal).toFixed(1)},` +
    ` postgres ${(mintCpu.postgres + revokeCpu.postgres).toFixed(1)})` +
    `; worker by thread: ${threadText(workerThreads)}`;
  for (const [name, line, data] of [
    ['cpu mint', mintLine, { cpu: mintCpu, load: stats(mints) }],
    ['cpu revoke', revokeLine, { cpu: revokeCpu, load: stats(revokes) }],
    ['cpu lease', leaseLine, { mint: mintCpu, revoke: revokeCpu, workerThreads, idlePerMs: idle }],
  ] as const) {
    log(line);
    ctx.report({ name, line, data });
  }
  const pids = processIds(ctx);

  // Expiry: leases that all expire in the same second, none of them revoked by a caller.
  const expirySecond = Math.ceil(Date.now() / 1000 + count / Math.max(stats(mints).rate * 0.6, 2) + 4);
  const expiring = await runLoad(
    async () => {
      if (Date.now() % 1000 > 900) await sleep(1000 - (Date.now() % 1000) + 5);
      const ttl = expirySecond - Math.floor(Date.now() / 1000);
      if (ttl < 2) throw new Error('minting ran past the expiry second');
      await apiMint(env, role, { ttl });
    },
    { concurrency: 16, maxOps: count },
  );
  const store = new pg.Client({ connectionString: env.config.databaseUrl });
  await store.connect();
  try {
    const unfinished = async () =>
      Number(
        (
          await store.query(`SELECT count(*) FROM leases WHERE role = $1 AND state NOT IN ('expired', 'revoked')`, [
            role,
          ])
        ).rows[0].count,
      );
    await sleep(Math.max(0, expirySecond * 1000 - Date.now()));
    const s3 = cpuSnapshot(pids);
    const done = await waitUntil(async () => (await unfinished()) === 0, ctx.quick ? 60_000 : 600_000, 50);
    const s4 = cpuSnapshot(pids);
    const expiryCpu = cpuPerOp(s3, s4, expiring.ops, idle);
    const seconds = (s4.at - s3.at) / 1000;
    const line =
      `cpu expiry n=${expiring.ops}`.padEnd(20) +
      ` ${cpuText(expiryCpu)} | all recorded in ${seconds.toFixed(1)} s` +
      ` (${rate(expiring.ops / seconds)}/s)${done ? '' : ' NOT DONE'}`;
    log(line);
    ctx.report({ name: 'cpu expiry', line, data: { cpu: expiryCpu, seconds, done, leases: expiring.ops } });
  } finally {
    await store.end();
  }
}
