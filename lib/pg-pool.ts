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
