import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time from /proc/<pid>/stat (utime + stime, and for Postgres the reaped backends' cutime + cstime on
 * the postmaster), in ms. Machine-independent enough to judge a lever by: CPU per lease does not depend on
 * how busy the other core was.
 */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const toMs = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;

interface Stat {
  pid: number;
  comm: string;
  ppid: number;
  own: number;
  reapedChildren: number;
}

function readStat(pid: number | string): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    // fields[0] is the state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    return {
      pid: Number(pid),
      comm,
      ppid: Number(fields[1]),
      own: Number(fields[11]) + Number(fields[12]),
      reapedChildren: Number(fields[13]) + Number(fields[14]),
    };
  } catch {
    return undefined;
  }
}

function allStats(): Stat[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(readStat)
    .filter((s): s is Stat => s !== undefined);
}

/** A process and its live descendants (the Temporal CLI may run the server as a child). */
export function processTreeCpuMs(pid: number, stats = allStats()): number {
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  let total = 0;
  const visit = (s: Stat | undefined) => {
    if (!s) return;
    total += s.own + s.reapedChildren;
    for (const child of children.get(s.pid) ?? []) visit(child);
  };
  visit(stats.find((s) => s.pid === pid));
  return toMs(total);
}

/** Every Postgres process on the machine, and the backends that already exited (on the postmaster). */
export function postgresCpuMs(stats = allStats()): number {
  return toMs(stats.filter((s) => s.comm === 'postgres').reduce((sum, s) => sum + s.own + s.reapedChildren, 0));
}

/**
 * A process's CPU ms by thread, its threads grouped by name: `main` for the process's own thread, Node's
 * worker threads (Temporal's workflow thread among them) as `node`, libuv's pool, V8's, Rust core's.
 */
export function threadCpuMs(pid: number): Record<string, number> {
  const byName: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    const s = readStat(`${pid}/task/${tid}`);
    if (!s) continue;
    const name = Number(tid) === pid ? 'main' : s.comm.replace(/[\s\d]+$/, '');
    byName[name] = (byName[name] ?? 0) + toMs(s.own);
  }
  return byName;
}

/** CPU ms per operation of each thread group between two `threadCpuMs` readings. */
export function threadCpuPerOp(
  before: Record<string, number>,
  after: Record<string, number>,
  ops: number,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, ms]) => [name, (ms - (before[name] ?? 0)) / Math.max(ops, 1)])
      .filter(([, ms]) => (ms as number) > 0.05),
  );
}

/** CPU ms per op by thread name, busiest first. */
export const threadText = (threads: Record<string, number>) =>
  Object.entries(threads)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(', ');

export type CpuSnapshot = Record<'api' | 'worker' | 'temporal' | 'postgres', number> & {
  at: number;
  machine: MachineTicks;
};

interface MachineTicks {
  busy: number;
  all: number;
}

/** The machine's CPU ticks from /proc/stat: all of them, and those not idle or waiting on I/O. */
function machineTicks(): MachineTicks {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const all = fields.reduce((sum, v) => sum + v, 0);
  return { all, busy: all - fields[3]! - fields[4]! };
}

export function cpuSnapshot(pids: { api: number; worker: number; temporal: number }): CpuSnapshot {
  const stats = allStats();
  return {
    at: performance.now(),
    api: processTreeCpuMs(pids.api, stats),
    worker: pids.worker === pids.api ? 0 : processTreeCpuMs(pids.worker, stats),
    temporal: processTreeCpuMs(pids.temporal, stats),
    postgres: postgresCpuMs(stats),
    machine: machineTicks(),
  };
}

export const PROCESSES = ['api', 'worker', 'temporal', 'postgres'] as const;

/** CPU ms per operation of each process between two snapshots, less what they spend idle over that time. */
export function cpuPerOp(
  before: CpuSnapshot,
  after: CpuSnapshot,
  ops: number,
  idlePerMs?: Partial<Record<(typeof PROCESSES)[number], number>>,
) {
  const elapsed = after.at - before.at;
  const per = Object.fromEntries(
    PROCESSES.map((p) => [p, Math.max(0, after[p] - before[p] - (idlePerMs?.[p] ?? 0) * elapsed) / Math.max(ops, 1)]),
  ) as Record<(typeof PROCESSES)[number], number>;
  // Below 1, something other than CPU holds the rate (a lock, a queue, a round trip nobody overlaps).
  const machineBusy = (after.machine.busy - before.machine.busy) / Math.max(after.machine.all - before.machine.all, 1);
  return { ...per, total: PROCESSES.reduce((sum, p) => sum + per[p], 0), machineBusy };
}

/** What each process burns per ms while nothing is asked of it (pollers, timers), measured over `ms`. */
export async function idleCpuRate(pids: { api: number; worker: number; temporal: number }, ms = 3000) {
  const a = cpuSnapshot(pids);
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuSnapshot(pids);
  const elapsed = b.at - a.at;
  return Object.fromEntries(PROCESSES.map((p) => [p, (b[p] - a[p]) / elapsed])) as Record<
    (typeof PROCESSES)[number],
    number
  >;
}

export const cpuText = (c: ReturnType<typeof cpuPerOp>) =>
  `CPU ms/lease total ${c.total.toFixed(1)} = api ${c.api.toFixed(1)} + worker ${c.worker.toFixed(1)}` +
  ` + temporal ${c.temporal.toFixed(1)} + postgres ${c.postgres.toFixed(1)}` +
  ` (machine ${Math.round(c.machineBusy * 100)}% busy)`;
