import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../test/support/global-setup';
import { nodeFlagsFor } from '../../worker/node-flags';

/**
 * The product as separate processes, started the way `npm run worker` and `npm run api` start them, so
 * a benchmark can read each one's memory and a fault test can SIGKILL the worker.
 */
const ROOT = path.resolve(__dirname, '..', '..');
export { freePort };
export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ProductConfig {
  databaseUrl: string;
  masterKey: string;
  temporalAddress: string;
  taskQueue: string;
  rootToken: string;
  port: number;
  dataDir: string;
  logLevel: string;
  /** More environment for the process (a lever's setting). */
  env?: Record<string, string>;
  /** Another checkout of the product to run the process from (a code lever's baseline); this one when unset. */
  root?: string;
  /** Load `heap-probe.mjs`, so `heapAfterCollection()` can read what the process keeps (the bench's). */
  heapProbe?: boolean;
}

/** A fresh store database name, master key, root token and task queue; the caller picks Temporal's address. */
export async function newProductConfig(tag: string, temporalAddress: string, dataDir: string): Promise<ProductConfig> {
  const store = `sv_${tag}_${randomBytes(4).toString('hex')}`;
  return {
    databaseUrl: ADMIN_URL.replace(/\/[^/]*$/, `/${store}`),
    masterKey: randomBytes(32).toString('base64'),
    temporalAddress,
    taskQueue: `${tag}-${randomBytes(4).toString('hex')}`,
    rootToken: `svt_${randomBytes(24).toString('base64url')}`,
    port: await freePort(),
    dataDir,
    logLevel: 'warn',
  };
}

export interface ProductProcess {
  child: ChildProcess;
  /** The last lines it printed (stdout and stderr), for a failure message. */
  tail(): string;
  /** Resident memory in bytes, read from /proc. */
  rss(): number;
  /** With `heapProbe`: what each thread's JavaScript heap keeps after a full collection. */
  heapAfterCollection(): Promise<HeapReading>;
  exited: Promise<number | null>;
}

export interface HeapReading {
  /** The JavaScript heap each thread kept (main, workflow threads, helpers), in bytes. */
  threads: { threadId: number; used: number }[];
  kept: number;
}

const HEAP_PROBE = path.join(__dirname, 'heap-probe.mjs');

function launch(entry: string, config: ProductConfig, readyLine: RegExp | undefined): Promise<ProductProcess> {
  const heapFile = config.heapProbe
    ? path.join(config.dataDir, `heap-${path.dirname(entry)}-${randomBytes(4).toString('hex')}.jsonl`)
    : undefined;
  const env = {
    ...process.env,
    DATABASE_URL: config.databaseUrl,
    SCAIVAULT_MASTER_KEY: config.masterKey,
    TEMPORAL_ADDRESS: config.temporalAddress,
    TEMPORAL_TASK_QUEUE: config.taskQueue,
    SCAIVAULT_DEV_ROOT_TOKEN: config.rootToken,
    SCAIVAULT_PORT: String(config.port),
    SCAIVAULT_DATA_DIR: config.dataDir,
    SCAIVAULT_LOG_LEVEL: config.logLevel,
    ...(heapFile ? { SCAIVAULT_BENCH_HEAP_FILE: heapFile } : {}),
    ...config.env,
  };
  // BENCH_CPU_PROF=<dir>: each product process (and each of its threads) writes a V8 CPU profile to
  // <dir>/<api|worker> when it stops.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF, path.dirname(entry))}`]
    : [];
  const probe = heapFile ? ['--import', HEAP_PROBE] : [];
  const child = spawn(process.execPath, [...profile, ...nodeFlagsFor(entry), ...probe, entry], {
    cwd: config.root ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dieWithParent(child);
  let lines: string[] = [];
  let heapRequests = 0;
  let ready = readyLine === undefined;
  let onReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (onReady = resolve));
  const take = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    lines = [...lines, ...text.split('\n').filter(Boolean)].slice(-40);
    if (!ready && readyLine!.test(text)) {
      ready = true;
      onReady();
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: ProductProcess = {
    child,
    tail: () => lines.join('\n'),
    rss: () => rssOf(child.pid!),
    heapAfterCollection: () => {
      if (!heapFile) return Promise.reject(new Error(`${entry} was started without the heap probe`));
      return readHeap(child, heapFile, ++heapRequests);
    },
    exited,
  };
  if (ready) return Promise.resolve(proc);
  return Promise.race([
    readyPromise.then(() => proc),
    exited.then((code) =>
      Promise.reject(new Error(`${entry} exited with ${code} before it was ready:\n${proc.tail()}`)),
    ),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${entry} not ready after 90 s:\n${proc.tail()}`)), 90_000).unref(),
    ),
  ]);
}

/** `npm run worker`: resolves once it polls its task queue (it logs "worker running" at info level). */
export const startWorkerProcess = (config: ProductConfig) =>
  launch('worker/main.ts', { ...config, logLevel: 'info' }, /worker running/);

/** `npm run api`: resolves once /v1/sys/health answers. */
export async function startApiProcess(config: ProductConfig): Promise<ProductProcess> {
  const proc = await launch('api/main.ts', config, undefined);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`api exited with ${proc.child.exitCode}:\n${proc.tail()}`);
    const ok = await fetch(`http://127.0.0.1:${config.port}/v1/sys/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return proc;
    if (Date.now() > deadline) throw new Error(`api not healthy after 90 s:\n${proc.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The child is killed when this process exits, however it exits: nothing is left running after a crash. */
export function dieWithParent(child: ChildProcess) {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.removeListener('exit', kill));
}

/** Sends the signal and waits for the exit (SIGKILL after 20 s if it lingers). */
export async function stopProcess(proc: ProductProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 20_000);
  await proc.exited;
  clearTimeout(timer);
}

/** SIGWINCH asks every thread to collect and report; the reading is complete once no thread adds a line for 1 s. */
async function readHeap(child: ChildProcess, file: string, request: number): Promise<HeapReading> {
  child.kill('SIGWINCH');
  const answers = () =>
    (existsSync(file) ? readFileSync(file, 'utf8') : '')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { request: number; threadId: number; used: number })
      .filter((line) => line.request === request);
  const deadline = Date.now() + 30_000;
  let seen = 0;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const count = answers().length;
    if (count !== seen) [seen, quietSince] = [count, Date.now()];
    if ((seen > 0 && Date.now() - quietSince >= 1000) || Date.now() > deadline) break;
  }
  const threads = answers().map(({ threadId, used }) => ({ threadId, used }));
  return { threads, kept: threads.reduce((sum, t) => sum + t.used, 0) };
}

export function rssOf(pid: number): number {
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Drops the store database and every role whose name starts with one of the prefixes. */
export async function dropDatabaseAndRoles(databases: string[], rolePrefixes: string[]): Promise<number> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
    let dropped = 0;
    for (const prefix of rolePrefixes) {
      const { rows } = await admin.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
        [prefix],
      );
      for (const { rolname } of rows) {
        await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`);
        dropped++;
      }
    }
    return dropped;
  } finally {
    await admin.end();
  }
}

export const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
