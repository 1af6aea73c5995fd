import { merge, stats, type RunResult } from '../lib/load';
import { leaseCpu } from './cpu';
import { rate, x, type ScenarioContext } from './common';

interface Setting {
  label: string;
  env: Record<string, string>;
}

/** A setting of the API or the worker, tried against the shipped one in the same run. */
export interface Lever {
  name: string;
  process: 'api' | 'worker';
  baseline: Setting;
  candidate: Setting;
}

const SHIPPED: Setting = { label: 'shipped', env: {} };

export const LEVERS: Lever[] = [
  {
    name: 'request log line',
    process: 'api',
    baseline: { label: 'a log line per request (debug)', env: { SCAIVAULT_LOG_LEVEL: 'debug' } },
    candidate: { ...SHIPPED, label: 'none (info, shipped)' },
  },
  {
    name: 'token cache',
    process: 'api',
    baseline: { label: 'a store lookup per request', env: { SCAIVAULT_TOKEN_CACHE_MS: '0' } },
    candidate: { ...SHIPPED, label: 'live tokens kept 1 s (shipped)' },
  },
  {
    name: 'workflow threads',
    process: 'worker',
    baseline: { ...SHIPPED, label: '1 thread (shipped)' },
    candidate: { label: '2 threads', env: { SCAIVAULT_WORKER_WORKFLOW_THREADS: '2' } },
  },
  {
    name: 'workflow task slots',
    process: 'worker',
    baseline: { ...SHIPPED, label: '100 slots (shipped)' },
    candidate: { label: '16 slots', env: { SCAIVAULT_WORKER_WORKFLOW_TASK_SLOTS: '16' } },
  },
];

const ROUNDS = 2;

/**
 * Each lever: the API or the worker restarted with the baseline and with the candidate setting, alternately
 * (two rounds each), `count` leases minted and revoked at c=16 per round. Judged by CPU ms per lease across
 * all processes, and the mint rate.
 */
export async function leverScenario(ctx: ScenarioContext, count: number, levers = LEVERS): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'lever');
  for (const lever of levers) {
    const runs = new Map<Setting, { cpu: number[]; mints: RunResult[] }>([[lever.baseline, { cpu: [], mints: [] }], [lever.candidate, { cpu: [], mints: [] }]]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [setting, acc] of runs) {
        await env.restart(lever.process, setting.env);
        const { mintCpu, revokeCpu, mints } = await leaseCpu(ctx, role, count);
        acc.cpu.push(mintCpu.total + revokeCpu.total);
        acc.mints.push(mints);
      }
    }
    await env.restart(lever.process);
    const summary = (setting: Setting) => {
      const acc = runs.get(setting)!;
      return { cpu: acc.cpu.reduce((a, b) => a + b, 0) / acc.cpu.length, rate: stats(merge(acc.mints)).rate, runs: acc.cpu };
    };
    const candidate = summary(lever.candidate);
    const baseline = summary(lever.baseline);
    const line = `lever ${lever.name}`.padEnd(20) +
      ` ${lever.candidate.label}: ${candidate.cpu.toFixed(1)} CPU ms/lease, mint ${rate(candidate.rate)}/s` +
      ` | baseline ${lever.baseline.label}: ${baseline.cpu.toFixed(1)} CPU ms/lease, mint ${rate(baseline.rate)}/s` +
      ` | CPU ${x(candidate.cpu / baseline.cpu)}, rate ${x(candidate.rate / baseline.rate)}`;
    log(line);
    ctx.report({ name: `lever ${lever.name}`, line, data: { lever, candidate, baseline } });
  }
}
