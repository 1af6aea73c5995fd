import type pg from 'pg';

/**
 * A server restart or a terminated backend makes a pooled client emit 'error', idle or checked out;
 * with no listener that event would crash the process. The failure still reaches whoever uses the
 * client next (its query fails), and the pool replaces the connection.
 */
export function tolerateDroppedConnections(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** A multi-statement simple query answers with one result per statement; a single one with just its own. */
export const lastResult = (result: pg.QueryResult | pg.QueryResult[]): pg.QueryResult =>
  Array.isArray(result) ? result[result.length - 1]! : result;
