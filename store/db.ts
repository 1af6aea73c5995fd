import path from 'node:path';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { lastResult, tolerateDroppedConnections } from '../lib/pg-pool';

export type Db = pg.Pool;

/** A connection inside one of `inStoreTransaction`'s transactions: store writes handed one join that transaction. */
export type Tx = pg.PoolClient;
/** Where a store query runs: the pool (a transaction of its own) or a transaction in progress. */
export type Queryable = Db | Tx;

/**
 * A data-access object: its queries run on the pool, or, through `within(tx)`, inside a transaction in
 * progress, so a service can commit a change and its audit entry together.
 */
export abstract class TableAccess {
  constructor(protected readonly db: Queryable) {}

  /** The same data-access object, its queries inside `tx`. */
  within(tx: Tx): this {
    return Object.create(this, { db: { value: tx } }) as this;
  }
}

const openTransactions = new WeakSet<pg.PoolClient>();

/**
 * Runs `work` in one transaction on one pooled connection, committed if it returns and rolled back if it
 * throws. `lock` names an advisory lock held until the end, serializing every transaction that takes it;
 * `opening` is a query of our own (no parameters) whose rows `work` receives. Both ride with BEGIN in
 * one round trip. Given a transaction in progress, `work` joins it (taking the lock there), so a change
 * and its audit entry commit together.
 */
export async function inStoreTransaction<T>(
  db: Queryable,
  work: (client: Tx, opened: Record<string, unknown>[]) => Promise<T>,
  { lock, opening }: { lock?: string; opening?: string } = {},
): Promise<T> {
  const statements = [
    ...(lock ? [`SELECT pg_advisory_xact_lock(hashtext(${pg.escapeLiteral(lock)}))`] : []),
    ...(opening ? [opening] : []),
  ];
  if (openTransactions.has(db as Tx)) {
    const client = db as Tx;
    const opened = statements.length ? lastResult(await client.query(statements.join('; '))).rows : [];
    return work(client, opened);
  }
  const client = await (db as Db).connect();
  openTransactions.add(client);
  try {
    const opened = lastResult(await client.query(['BEGIN', ...statements].join('; '))).rows;
    const result = await work(client, opened);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    openTransactions.delete(client);
    client.release();
  }
}

export function createStorePool(databaseUrl: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  tolerateDroppedConnections(pool);
  return pool;
}

/** Creates the product's own database if it is missing (the server's `postgres` database must exist). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((error) => {
        // Created by a concurrent start: "already exists", or the catalog's unique index when both raced.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await admin.end();
  }
}

/**
 * Migrates the store. Processes that start together (the API and the worker of `npm start`, replicas of a
 * rollout) wait their turn on a session advisory lock, where node-pg-migrate's own lock would make all but
 * one fail with "Another migration is already running".
 */
export async function migrate(databaseUrl: string): Promise<void> {
  await ensureDatabase(databaseUrl);
  const turn = new pg.Client({ connectionString: databaseUrl });
  turn.on('error', () => {});
  await turn.connect();
  try {
    await turn.query("SELECT pg_advisory_lock(hashtext('scaivault:migrate'))");
    await runner({
      databaseUrl,
      dir: path.join(__dirname, 'migrations'),
      direction: 'up',
      migrationsTable: 'scaivault_migrations',
      log: () => {},
    });
  } finally {
    await turn.end(); // ending the session releases the lock
  }
}
