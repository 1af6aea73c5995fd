import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DEV_SERVER_SQLITE_PRAGMAS, startDevServer } from '../../scripts/temporal-cli';
import { adminQuery, createTargetDatabase, type TargetDatabase } from '../../test/support/postgres';
import { call, type Answer } from './load';
import {
  databaseName,
  dieWithParent,
  dropDatabaseAndRoles,
  freePort,
  newProductConfig,
  startApiProcess,
  startWorkerProcess,
  stopProcess,
  type ProductConfig,
  type ProductProcess,
} from './processes';

/** The two role shapes the issue compares, as role definitions for one target database. */
export interface Shape {
  key: 'table' | 'group';
  label: string;
  creation: string[];
  revocation: string[];
}

export function shapesFor(target: TargetDatabase, group: string): Record<Shape['key'], Shape> {
  return {
    table: {
      key: 'table',
      label: 'per-table role (guide, 21 tables)',
      creation: target.guideRole.creation_statements,
      // The guide's REASSIGN/DROP OWNED fail on PostgreSQL 15 (field notes); the REVOKEs leave nothing behind.
      revocation: [
        'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
        'REVOKE ALL ON SCHEMA public FROM "{{name}}"',
        `REVOKE CONNECT ON DATABASE ${target.name} FROM "{{name}}"`,
        'DROP ROLE IF EXISTS "{{name}}"',
      ],
    },
    group: {
      key: 'group',
      label: 'group role (IN ROLE)',
      creation: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ${group}`,
      ],
      revocation: ['DROP ROLE IF EXISTS "{{name}}"'],
    },
  };
}

export interface BenchEnv {
  tag: string;
  config: ProductConfig;
  baseUrl: string;
  target: TargetDatabase;
  group: string;
  engine: string;
  shapes: Record<Shape['key'], Shape>;
  temporal: ChildProcess;
  api: ProductProcess;
  worker: ProductProcess;
  /** The target database as its admin: the raw floor's connections. */
  targetConfig: pg.PoolConfig;
  /** Every lease username starts with `v_<tag>`; every raw-floor role with `raw_<tag>`. */
  userPrefix: string;
  rawPrefix: string;
  call(method: string, path: string, body?: unknown): Promise<Answer>;
  /**
   * Restarts the API, the worker or both (`product`) with more environment (a lever's setting), from
   * another checkout when `root` is given; or the Temporal dev server (same port and state file) with
   * these dynamic config values, then the API and the worker. No setting restores the default.
   */
  restart(
    kind: 'api' | 'worker' | 'product' | 'temporal',
    setting?: Record<string, string>,
    root?: string,
  ): Promise<void>;
  /** Defines a role on the engine (a new name per call) and returns its name. */
  defineRole(shape: Shape, suffix: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * How the benchmark's Temporal dev server keeps its state: `wal` is what `npm start` does (a SQLite file
 * with a write-ahead log, DEV_SERVER_SQLITE_PRAGMAS); `rollback` is the same file with the CLI's own
 * default journal; `memory` keeps nothing.
 */
export type TemporalStorage = 'wal' | 'rollback' | 'memory';

async function startTemporal(
  storage: TemporalStorage,
  port: number,
  dataDir: string,
  setting: Record<string, string> = {},
): Promise<ChildProcess> {
  // Upper-case names (GOGC) are the server process's environment, `sqlite.<pragma>` names SQLite pragmas
  // added to the storage's, `state` another state file (`temporal-<state>.db`, created empty), the rest
  // dynamic config keys.
  const kindOf = (key: string) => {
    if (/^[A-Z][A-Z0-9_]*$/.test(key)) return 'env';
    if (key.startsWith('sqlite.')) return 'sqlite';
    return key === 'state' ? 'state' : 'dc';
  };
  const pick = (kind: string) => Object.entries(setting).filter(([key]) => kindOf(key) === kind);
  const pragmas = pick('sqlite').map(([key, value]) => `${key.slice('sqlite.'.length)}=${value}`);
  const basePragmas = storage === 'rollback' ? [] : pragmas.length > 0 ? DEV_SERVER_SQLITE_PRAGMAS : undefined;
  const state = setting.state ? `temporal-${setting.state}.db` : 'temporal.db';
  const dbFile = storage === 'memory' ? undefined : path.join(dataDir, state);
  const child = await startDevServer({
    port,
    headless: true,
    dbFile,
    dynamicConfig: Object.fromEntries(pick('dc')),
    env: Object.fromEntries(pick('env')),
    ...(basePragmas ? { sqlitePragmas: [...basePragmas, ...pragmas] } : {}),
  });
  dieWithParent(child);
  return child;
}

async function stopTemporal(temporal: ChildProcess): Promise<void> {
  if (temporal.exitCode !== null || temporal.signalCode !== null) return;
  temporal.kill('SIGTERM');
  await new Promise((r) => temporal.once('exit', r));
}

export async function startBenchEnv(log: (line: string) => void, storage: TemporalStorage = 'wal'): Promise<BenchEnv> {
  const tag = `b${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-bench-'));
  const temporalPort = await freePort();
  log(`starting: Temporal dev server (storage: ${storage}, in ${dataDir}), target database, API and worker processes`);
  const [temporal, target] = await Promise.all([
    startTemporal(storage, temporalPort, dataDir),
    createTargetDatabase({ withGrantOption: true, tables: 20 }),
  ]);
  const group = `${target.name}_readers`;
  await adminQuery(`CREATE ROLE ${group} NOLOGIN`);
  await adminQuery(`GRANT CONNECT ON DATABASE ${target.name} TO ${group}`);
  await adminQuery(
    `GRANT USAGE ON SCHEMA public TO ${group}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${group}`,
    [],
    target.name,
  );

  const config = await newProductConfig(tag, `127.0.0.1:${temporalPort}`, dataDir);
  config.logLevel = 'info'; // the product's default: request logging is part of what a mint costs
  config.heapProbe = true;
  const api = await startApiProcess(config);
  const worker = await startWorkerProcess(config);
  const baseUrl = `http://127.0.0.1:${config.port}`;
  const roleNames = new Map<string, number>();
  const env: BenchEnv = {
    tag,
    config,
    baseUrl,
    target,
    group,
    temporal,
    api,
    worker,
    engine: `${tag}-db`,
    shapes: shapesFor(target, group),
    targetConfig: {
      host: '127.0.0.1',
      port: 5432,
      database: target.name,
      user: target.admin,
      password: target.adminPassword,
    },
    userPrefix: `v_${tag}`,
    rawPrefix: `raw_${tag}`,
    call: (method, p, body) => call(baseUrl, method, p, config.rootToken, body),
    async restart(kind, setting, root) {
      const processConfig = { ...config, env: kind === 'temporal' ? undefined : setting, root };
      if (kind === 'temporal' || kind === 'product') {
        await stopProcess(env.api);
        await stopProcess(env.worker);
        if (kind === 'temporal') {
          await stopTemporal(env.temporal);
          env.temporal = await startTemporal(storage, temporalPort, dataDir, setting);
        }
        env.api = await startApiProcess(processConfig);
        env.worker = await startWorkerProcess(processConfig);
      } else if (kind === 'api') {
        await stopProcess(env.api);
        env.api = await startApiProcess(processConfig);
      } else {
        await stopProcess(env.worker);
        env.worker = await startWorkerProcess(processConfig);
      }
    },
    async defineRole(shape, suffix) {
      // A role is created once (POST never replaces one): a suffix used before gets a number.
      const uses = (roleNames.get(suffix) ?? 0) + 1;
      roleNames.set(suffix, uses);
      const name = `${tag}_${suffix}${uses > 1 ? uses : ''}`;
      const response = await env.call('POST', `/v1/dynamic/engines/${env.engine}/roles`, {
        name,
        creation_statements: shape.creation,
        revocation_statements: shape.revocation,
        default_ttl: '1h',
        max_ttl: '24h',
      });
      if (response.status !== 200) throw new Error(`role ${name}: ${response.status} ${JSON.stringify(response.body)}`);
      return name;
    },
    async close() {
      await stopProcess(env.api);
      await stopProcess(env.worker);
      await stopTemporal(env.temporal);
      await target.drop();
      await dropDatabaseAndRoles([databaseName(config.databaseUrl)], [env.userPrefix, env.rawPrefix]);
      await adminQuery(`DROP ROLE IF EXISTS ${group}`).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const rootPath = `infra/postgres/${env.engine}/root`;
  const steps: [string, string, unknown][] = [
    [
      'PUT',
      `/v1/secrets/${rootPath}`,
      { data: { username: target.admin, password: target.adminPassword }, secret_type: 'json' },
    ],
    [
      'POST',
      '/v1/dynamic/engines',
      {
        name: env.engine,
        type: 'database',
        default_ttl: '1h',
        max_ttl: '24h',
        config: { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath },
      },
    ],
  ];
  for (const [method, p, body] of steps) {
    const response = await env.call(method, p, body);
    if (response.status >= 300) throw new Error(`${method} ${p}: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return env;
}
