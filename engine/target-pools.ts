import pg from 'pg';
import { tolerateDroppedConnections } from '../lib/pg-pool';
import type { EngineRecord, EngineStore } from '../store/engines';
import type { SecretStore } from '../store/secrets';
import { fillConnectionUrl, poolConfigFor, scrub, type RootCredential } from './connection-url';

const AUTH_FAILED = '28P01';

interface Entry {
  pool: pg.Pool;
  /** Root secret version and URL template the pool was built from; a change means a new pool. */
  source: string;
  checkedAt: number;
  ttlMs: number;
  credential: RootCredential;
}

/** Reads an engine's root credential from its secret path. */
export async function readRootCredential(
  secrets: SecretStore,
  engine: Pick<EngineRecord, 'root_credentials_path'>,
  pending = false,
) {
  // A rotation's pending version, when asked for and present: the database may already have it.
  const secret =
    (pending && (await secrets.pending(engine.root_credentials_path))) ||
    (await secrets.get(engine.root_credentials_path));
  if (!secret) throw new TargetError(`no secret at root_credentials_path ${engine.root_credentials_path}`);
  const { username, password } = secret.data as Partial<RootCredential>;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new TargetError(
      `the secret at ${engine.root_credentials_path} must hold string fields "username" and "password"`,
    );
  }
  return { credential: { username, password }, version: secret.version };
}

/** A failure talking to a target database, with a message safe to show (no password in it). */
export class TargetError extends Error {
  constructor(
    message: string,
    readonly sqlstate?: string,
  ) {
    super(message);
    this.name = 'TargetError';
  }
}

/**
 * One bounded pool per engine. The root credential is re-read after the engine's credentials_cache_ttl;
 * when it changed (rotation), or when the database refuses it, the pool is rebuilt.
 */
export class TargetPools {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();

  constructor(
    private readonly deps: { engines: EngineStore; secrets: SecretStore },
    private readonly maxPerEngine = 4,
  ) {}

  async withClient<T>(engineName: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // Refused: re-read the root credential; refused again, try a rotation's pending version (its
      // ALTER ROLE may have run before the rotation was confirmed).
      const entry = await this.entry(engineName, attempt > 1, attempt > 2);
      let client: pg.PoolClient;
      try {
        client = await entry.pool.connect();
      } catch (error) {
        if ((error as { code?: string }).code === AUTH_FAILED && attempt < 3) continue;
        throw new TargetError(scrub(describe(error), entry.credential.password), (error as { code?: string }).code);
      }
      try {
        return await work(client);
      } finally {
        client.release();
      }
    }
  }

  /** Forgets an engine's pool (engine deleted or its config changed). */
  async drop(engineName: string): Promise<void> {
    const entry = this.entries.get(engineName);
    this.entries.delete(engineName);
    await entry?.pool.end().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((name) => this.drop(name)));
  }

  private async entry(engineName: string, forceReload: boolean, usePending = false): Promise<Entry> {
    const cached = this.entries.get(engineName);
    if (cached && !forceReload && Date.now() - cached.checkedAt < cached.ttlMs) return cached;
    let pending = this.loading.get(engineName);
    if (!pending) {
      pending = this.load(engineName, usePending).finally(() => this.loading.delete(engineName));
      this.loading.set(engineName, pending);
    }
    return pending;
  }

  private async load(engineName: string, usePending: boolean): Promise<Entry> {
    // A deleted engine's tombstone still connects: its leases are revoked through it.
    const engine = await this.deps.engines.getForRevocation(engineName);
    if (!engine) throw new EngineGone(engineName);
    const { credential, version } = await readRootCredential(this.deps.secrets, engine, usePending);
    const source =
      `${version}|${engine.connection_url}|${engine.ca_certificate ?? ''}|` +
      `${engine.statement_timeout}|${engine.lock_timeout}`;
    const current = this.entries.get(engineName);
    const ttlMs = engine.credentials_cache_ttl * 1000;
    if (current && current.source === source) {
      Object.assign(current, { checkedAt: Date.now(), ttlMs, credential });
      return current;
    }
    const pool = new pg.Pool({
      ...poolConfigFor(fillConnectionUrl(engine.connection_url, credential), engine.ca_certificate, engine),
      max: this.maxPerEngine,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
    });
    tolerateDroppedConnections(pool);
    const entry = { pool, source, checkedAt: Date.now(), ttlMs, credential };
    this.entries.set(engineName, entry);
    if (current) void current.pool.end().catch(() => {});
    return entry;
  }
}

/** The engine's row is gone altogether: nothing can reach its database any more. */
export class EngineGone extends TargetError {
  constructor(readonly engine: string) {
    super(`engine ${engine} does not exist`);
    this.name = 'EngineGone';
  }
}

/** The database's own words for a failure; connection errors carry no password. */
export function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length) return describe(error.errors[0]);
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}

/** Opens one connection with the given URL and credential, runs `SELECT 1`, and reports the failure if any. */
/** Where an engine connects: its URL template and the CA that verifies the server. */
export type TargetAddress = Pick<EngineRecord, 'connection_url' | 'ca_certificate'> &
  Partial<Pick<EngineRecord, 'statement_timeout' | 'lock_timeout'>>;

export async function testConnection(target: TargetAddress, credential: RootCredential): Promise<string | undefined> {
  const limits =
    target.statement_timeout && target.lock_timeout
      ? { statement_timeout: target.statement_timeout, lock_timeout: target.lock_timeout }
      : undefined;
  const client = new pg.Client({
    ...poolConfigFor(fillConnectionUrl(target.connection_url, credential), target.ca_certificate, limits),
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return scrub(describe(error), credential.password, encodeURIComponent(credential.password));
  } finally {
    await client.end().catch(() => {});
  }
}
