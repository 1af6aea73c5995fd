import { PROCESSES } from '../lib/cpu';
import { merge, stats, type RunResult } from '../lib/load';
import { leaseCpu } from './cpu';
import { rate, x, type ScenarioContext } from './common';

interface Setting {
  label: string;
  env: Record<string, string>;
  /** Run from this checkout (a code lever's baseline). */
  root?: string;
}

/** A setting of the API or the worker, tried against the shipped one in the same run. */
export interface Lever {
  name: string;
  /**
   * `product` is the API and the worker together; for `temporal`, the setting's values are the dev server's
   * dynamic config, or its environment for upper-case names (GOGC), or SQLite pragmas for `sqlite.<name>`,
   * or another state file for `state`.
   */
  process: 'api' | 'worker' | 'product' | 'temporal';
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
    name: 'workflow stack traces',
    process: 'worker',
    baseline: { label: "on (the SDK's default)", env: { SCAIVAULT_WORKFLOW_STACK_TRACES: 'true' } },
    candidate: { ...SHIPPED, label: 'off (shipped)' },
  },
  {
    name: 'reused V8 context',
    process: 'worker',
    baseline: { ...SHIPPED, label: 'one context per thread (shipped)' },
    candidate: { label: 'a context per workflow', env: { SCAIVAULT_WORKER_REUSE_V8_CONTEXT: 'false' } },
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
  {
    // What a full cache costs: with 50, every mint after the 50th evicts a live lease, whose revoke then
    // replays its history. A 200-lease round never fills the shipped 1,000 after the restart.
    name: 'full workflow cache',
    process: 'worker',
    baseline: { ...SHIPPED, label: '1,000 workflows (shipped), never full' },
    candidate: { label: '50 workflows, full', env: { SCAIVAULT_WORKER_CACHED_WORKFLOWS: '50' } },
  },
  {
    // Restarted on the same state file; with `--fill`, at that many live leases.
    name: 'temporal page cache',
    process: 'temporal',
    baseline: { ...SHIPPED, label: "SQLite's 2 MB per connection (shipped)" },
    candidate: { label: '64 MB per connection', env: { 'sqlite.cache_size': '-65536' } },
  },
  {
    // Whether the dev server's own state costs a lease more: the run's state file (with `--fill`, that many
    // live leases) against an empty one, the server and the product restarted on each in alternating
    // rounds. The worker's cache starts empty in both, so this is the server's share alone. With 10,000
    // live it read 1.14-1.37x of Temporal's CPU, growing each round, in the history queues' task tracking
    // after each restart; one restart alone costs far less, a steady 10,000 only at times (bench/README.md).
    name: 'temporal state',
    process: 'temporal',
    baseline: { label: 'an empty state file', env: { state: 'empty' } },
    candidate: { ...SHIPPED, label: "the run's state file" },
  },
  {
    // The history service's transfer and visibility queues drop the tasks they completed from memory only
    // at a checkpoint; until then every new range of tasks they read is merged into a slice that still
    // tracks them all, which shows in the dev server's profile at 10,000 live (bench/README.md).
    name: 'queue checkpoint interval',
    process: 'temporal',
    baseline: { ...SHIPPED, label: "30 s (the server's default)" },
    candidate: {
      label: '5 s',
      env: {
        'history.transferProcessorUpdateAckInterval': '"5s"',
        'history.visibilityProcessorUpdateAckInterval': '"5s"',
      },
    },
  },
  {
    name: 'temporal go gc',
    process: 'temporal',
    baseline: { ...SHIPPED, label: 'GOGC=100 (the Go default)' },
    candidate: { label: 'GOGC=400', env: { GOGC: '400' } },
  },
  {
    name: 'temporal go procs',
    process: 'temporal',
    baseline: { ...SHIPPED, label: 'GOMAXPROCS=2 (one per core, the Go default)' },
    candidate: { label: 'GOMAXPROCS=1', env: { GOMAXPROCS: '1' } },
  },
  {
    name: 'task queue partitions',
    process: 'temporal',
    baseline: { ...SHIPPED, label: "the dev server's own (shipped)" },
    candidate: {
      label: '1 partition',
      env: { 'matching.numTaskqueueReadPartitions': '1', 'matching.numTaskqueueWritePartitions': '1' },
    },
  },
  {
    name: 'transfer queue poll rate',
    process: 'temporal',
    baseline: { label: "20 reads/s (the server's default)", env: { 'history.transferProcessorMaxPollRPS': '20' } },
    candidate: { label: '200 reads/s', env: { 'history.transferProcessorMaxPollRPS': '200' } },
  },
];

const ROUNDS = 3;

/**
 * Each lever: the process it concerns restarted with the baseline and with the candidate setting,
 * alternately (ROUNDS each, since this machine's CPU cost per lease drifts by 10-20% between runs),
 * `count` leases minted and revoked at c=16 per round. Judged by CPU ms per lease across all processes
 * (and per process), and the mint rate.
 */
export async function leverScenario(ctx: ScenarioContext, count: number, levers: Lever[]): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'lever');
  for (const lever of levers) {
    type Acc = {
      mint: number[];
      revoke: number[];
      byProcess: Record<(typeof PROCESSES)[number], number>[];
      mints: RunResult[];
    };
    const fresh = (): Acc => ({ mint: [], revoke: [], byProcess: [], mints: [] });
    const runs = new Map<Setting, Acc>([
      [lever.baseline, fresh()],
      [lever.candidate, fresh()],
    ]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [setting, acc] of runs) {
        await env.restart(lever.process, setting.env, setting.root);
        const arm = setting === lever.baseline ? 'baseline' : 'candidate';
        const { mintCpu, revokeCpu, mints } = await leaseCpu(ctx, role, count, `${lever.name}-${arm}-${round}`);
        acc.mint.push(mintCpu.total);
        acc.revoke.push(revokeCpu.total);
        acc.byProcess.push(
          Object.fromEntries(PROCESSES.map((p) => [p, mintCpu[p] + revokeCpu[p]])) as Acc['byProcess'][number],
        );
        acc.mints.push(mints);
      }
    }
    await env.restart(lever.process);
    const summary = (setting: Setting) => {
      const acc = runs.get(setting)!;
      const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
      const byProcess = Object.fromEntries(
        PROCESSES.map((p) => [p, mean(acc.byProcess.map((b) => b[p]))]),
      ) as Acc['byProcess'][number];
      const rounds = acc.mint.map((mint, i) => mint + acc.revoke[i]!);
      const [mint, revoke] = [mean(acc.mint), mean(acc.revoke)];
      return { cpu: mint + revoke, mint, revoke, byProcess, rate: stats(merge(acc.mints)).rate, runs: rounds };
    };
    const split = (s: ReturnType<typeof summary>) =>
      PROCESSES.map((p) => `${p} ${s.byProcess[p].toFixed(1)}`).join(' ');
    const candidate = summary(lever.candidate);
    const baseline = summary(lever.baseline);
    const line =
      `lever ${lever.name}`.padEnd(20) +
      ` ${lever.candidate.label}: ${candidate.cpu.toFixed(1)} CPU ms/lease, mint ${rate(candidate.rate)}/s` +
      ` | baseline ${lever.baseline.label}: ${baseline.cpu.toFixed(1)} CPU ms/lease, mint ${rate(baseline.rate)}/s` +
      ` | CPU ${x(candidate.cpu / baseline.cpu)}, rate ${x(candidate.rate / baseline.rate)}` +
      ` | per process: ${split(candidate)} against ${split(baseline)}` +
      ` | mint + revoke: ${candidate.mint.toFixed(1)} + ${candidate.revoke.toFixed(1)}` +
      ` against ${baseline.mint.toFixed(1)} + ${baseline.revoke.toFixed(1)}`;
    log(line);
    ctx.report({ name: `lever ${lever.name}`, line, data: { lever, candidate, baseline } });
  }
}

/** The working tree's code against another revision's (`npm run bench -- --against=<rev>`), API and worker both. */
export const codeLever = (baseline: { root: string; label: string }): Lever => ({
  name: 'code',
  process: 'product',
  baseline: { label: baseline.label, env: {}, root: baseline.root },
  candidate: { ...SHIPPED, label: 'working tree' },
});

/** BENCH_LEVERS=<name>,<name>: only those levers. */
export function chosenLevers(levers = LEVERS): Lever[] {
  const names = process.env.BENCH_LEVERS?.split(',');
  return names ? levers.filter((lever) => names.includes(lever.name)) : levers;
}
