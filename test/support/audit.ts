import type { Stack } from './stack';

/**
 * Edits the audit log as a superuser who switches its append-only triggers off: what an attacker holding
 * the database's keys, but not the master key, can do.
 */
export async function tamperWithAudit(stack: Pick<Stack, 'stores'>, sql: string, params: unknown[] = []) {
  const client = await stack.stores.db.connect();
  try {
    await client.query('BEGIN; SET LOCAL session_replication_role = replica');
    await client.query(sql, params);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}
