import type { Db } from '../../store/db';
import { Keyring } from '../../lib/keyring';
import { AuditLog } from '../../store/audit';
import { cpuPerOp, cpuSnapshot } from '../lib/cpu';
import { runLoad, stats } from '../lib/load';
import { rate, x, type Figure, type ScenarioContext } from './common';

/**
 * The audit log's group commit: `count` appends from 16 concurrent writers, as the API and the worker make
 * them under load, against one transaction per entry. Judged by CPU per append (this process and Postgres)
 * and the append rate.
 */
export async function auditGroupCommitLever(ctx: ScenarioContext, db: Db, count: number): Promise<Figure> {
  const pids = { api: process.pid, worker: process.pid, temporal: ctx.env.temporal.pid! };
  const measure = async (log: AuditLog) => {
    const before = cpuSnapshot(pids);
    const run = await runLoad(
      (i) =>
        log.append({
          identity_id: 'bench',
          action: 'dynamic_generate',
          path: 'bench',
          result: 'success',
          extra_data: { lease_id: `lease_${i}` },
        }),
      { concurrency: 16, maxOps: count },
    );
    const cpu = cpuPerOp(before, cpuSnapshot(pids), run.ops);
    return { cpu: cpu.api + cpu.postgres, rate: stats(run).rate };
  };
  const keys = Keyring.derive([Buffer.alloc(32, 7)], 'audit-chain');
  const batched = [] as { cpu: number; rate: number }[];
  const single = [] as { cpu: number; rate: number }[];
  for (let round = 0; round < 2; round++) {
    single.push(await measure(new AuditLog(db, keys, 1)));
    batched.push(await measure(new AuditLog(db, keys)));
  }
  const mean = (runs: { cpu: number; rate: number }[]) => ({
    cpu: runs.reduce((s, r) => s + r.cpu, 0) / runs.length,
    rate: runs.reduce((s, r) => s + r.rate, 0) / runs.length,
  });
  const candidate = mean(batched);
  const baseline = mean(single);
  const line =
    `lever audit batches`.padEnd(20) +
    ` group commit, c=16: ${candidate.cpu.toFixed(2)} CPU ms/append, ${rate(candidate.rate)}/s` +
    ` | baseline one transaction per entry: ${baseline.cpu.toFixed(2)} CPU ms/append, ${rate(baseline.rate)}/s` +
    ` | CPU ${x(candidate.cpu / baseline.cpu)}, rate ${x(candidate.rate / baseline.rate)}`;
  ctx.log(line);
  return { name: 'lever audit batches', line, data: { candidate, baseline, count } };
}
