import pg from 'pg';
import { render } from '../lib/templates';
import { describe } from './target-pools';

/** Catalog conflicts that a retry resolves: "tuple concurrently updated", serialization failure, deadlock. */
const TRANSIENT_SQLSTATES = new Set(['XX000', '40001', '40P01']);
/** One key per target database: statements that rewrite table ACLs take it, so they never race. */
const ACL_LOCK_KEY = "hashtext('scaivault:acl')";
const MAX_CONFLICT_RETRIES = 8;

export interface SqlFailure {
  statementIndex: number;
  sqlstate?: string;
  message: string;
  hint?: string;
}

/** Statements that rewrite object ACLs (`pg_class.relacl` and friends) conflict when run in parallel. */
export const touchesAcl = (statement: string) =>
  /\b(GRANT|REVOKE)\b[\s\S]*\bON\b/i.test(statement) || /\b(DROP|REASSIGN)\s+OWNED\b/i.test(statement) ||
  /\bALTER\s+DEFAULT\s+PRIVILEGES\b/i.test(statement);

export const needsAclLock = (statements: string[]) => statements.some(touchesAcl);

export class StatementError extends Error {
  constructor(readonly failure: SqlFailure) {
    super(failure.message);
    this.name = 'StatementError';
  }
}

function failureOf(error: unknown, statementIndex: number): SqlFailure {
  const e = error as Partial<pg.DatabaseError>;
  return { statementIndex, sqlstate: e.code, message: describe(error), hint: e.hint };
}

/** A SQL error the database raised (as opposed to a lost connection). */
export const isSqlError = (error: unknown) => error instanceof pg.DatabaseError && !TRANSIENT_SQLSTATES.has(error.code ?? '');

export async function roleExists(client: pg.ClientBase, username: string): Promise<boolean> {
  return ((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).rowCount ?? 0) > 0;
}

/**
 * Runs statements in one transaction, under the ACL lock when they need it, retrying catalog conflicts.
 * `prepare` runs first inside the transaction and may return false to skip the statements.
 */
export async function inTransaction(
  client: pg.ClientBase,
  statements: string[],
  values: Record<string, string>,
  prepare?: () => Promise<boolean>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let index = -1;
    try {
      await client.query('BEGIN');
      if (needsAclLock(statements)) await client.query(`SELECT pg_advisory_xact_lock(${ACL_LOCK_KEY})`);
      if (!prepare || (await prepare())) {
        for (index = 0; index < statements.length; index++) await client.query(render(statements[index]!, values));
      }
      await client.query('COMMIT');
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      const code = (error as { code?: string }).code ?? '';
      if (TRANSIENT_SQLSTATES.has(code) && attempt < MAX_CONFLICT_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20));
        continue;
      }
      if (error instanceof pg.DatabaseError) throw new StatementError(failureOf(error, Math.max(index, 0)));
      throw error;
    }
  }
}

/**
 * Creates the lease's role. If an earlier attempt already committed (its answer was lost), the role exists
 * with every grant: only its password and expiry are set again, so a retry neither fails nor doubles.
 */
export async function createRole(client: pg.ClientBase, statements: string[], values: { name: string; password: string; expiration: string }) {
  await inTransaction(client, statements, values, async () => {
    if (!(await roleExists(client, values.name))) return true;
    await client.query(
      `ALTER ROLE ${pg.escapeIdentifier(values.name)} WITH PASSWORD ${pg.escapeLiteral(values.password)} VALID UNTIL ${pg.escapeLiteral(values.expiration)}`,
    );
    return false;
  });
}

/**
 * Revokes by outcome: blocks new logins, ends open sessions, runs each revocation statement on its own
 * (on PostgreSQL 15 a failing REASSIGN OWNED must not stop DROP ROLE), then asks whether the role is gone.
 */
export async function dropRole(client: pg.ClientBase, statements: string[], username: string) {
  const errors: SqlFailure[] = [];
  if (!(await roleExists(client, username))) return { roleGone: true, errors };
  const name = pg.escapeIdentifier(username);
  await client.query(`ALTER ROLE ${name} NOLOGIN`).catch((error) => errors.push(failureOf(error, -1)));
  await client
    .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [username])
    .catch((error) => errors.push(failureOf(error, -1)));
  for (const [index, statement] of statements.entries()) {
    try {
      await inTransaction(client, [statement], { name: username });
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      errors.push({ ...error.failure, statementIndex: index });
    }
  }
  return { roleGone: !(await roleExists(client, username)), errors };
}
