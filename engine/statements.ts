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

export async function roleExists(client: pg.ClientBase, username: string): Promise<boolean> {
  return ((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).rowCount ?? 0) > 0;
}

/**
 * Runs statements in one transaction, under the ACL lock when they need it, retrying catalog conflicts.
 * `prepare` runs first inside the transaction and may return false to skip the statements; `finish` runs
 * after them, in the same transaction.
 */
export async function inTransaction(
  client: pg.ClientBase,
  statements: string[],
  values: Record<string, string>,
  prepare?: () => Promise<boolean>,
  finish?: () => Promise<void>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let index = -1;
    try {
      await client.query('BEGIN');
      if (needsAclLock(statements)) await client.query(`SELECT pg_advisory_xact_lock(${ACL_LOCK_KEY})`);
      if (!prepare || (await prepare())) {
        for (index = 0; index < statements.length; index++) await client.query(render(statements[index]!, values));
        index = -1;
        await finish?.();
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
 * The comment that marks a role as this store's lease user: the reconciler touches no role without it,
 * and never one another ScaiVault instance (another store) created.
 */
export const leaseMarker = (m: RoleMarker) => `scaivault lease=${m.leaseId} engine=${m.engine} store=${m.storeId} issued=${m.issuedAt}`;
export interface RoleMarker {
  leaseId: string;
  engine: string;
  storeId: string;
  issuedAt: string;
}
const MARKER_PATTERN = /^scaivault lease=(\S+) engine=(\S+) store=(\S+) issued=(\S+)$/;

export function parseMarker(comment: string | null): RoleMarker | undefined {
  const m = comment?.match(MARKER_PATTERN);
  return m ? { leaseId: m[1]!, engine: m[2]!, storeId: m[3]!, issuedAt: m[4]! } : undefined;
}

/** Roles in the target cluster that carry a lease marker, whatever their name, with it parsed. */
export async function markedRoles(client: pg.ClientBase) {
  const { rows } = await client.query<{ rolname: string; description: string | null }>(
    `SELECT r.rolname, d.description FROM pg_roles r
     JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
     WHERE d.description LIKE 'scaivault lease=%'`,
  );
  return rows.flatMap((r) => {
    const marker = parseMarker(r.description);
    return marker ? [{ username: r.rolname, marker }] : [];
  });
}

/**
 * Creates the lease's role. If an earlier attempt already committed (its answer was lost), the role exists
 * with every grant: only its password and expiry are set again, so a retry neither fails nor doubles.
 */
export async function createRole(
  client: pg.ClientBase,
  statements: string[],
  values: { name: string; password: string; expiration: string },
  marker: string,
) {
  const name = pg.escapeIdentifier(values.name);
  await inTransaction(client, statements, values, async () => {
    if (!(await roleExists(client, values.name))) return true;
    await client.query(`ALTER ROLE ${name} WITH PASSWORD ${pg.escapeLiteral(values.password)} VALID UNTIL ${pg.escapeLiteral(values.expiration)}`);
    return false;
  }, async () => {
    await client.query(`COMMENT ON ROLE ${name} IS ${pg.escapeLiteral(marker)}`);
  });
}

/**
 * Ends the role's open sessions: DROP ROLE leaves them running. A CREATEROLE admin may terminate only
 * members' sessions, so it holds membership just long enough to do so; keeping it would change what
 * the role's own revocation statements are allowed to do.
 */
async function endSessions(client: pg.ClientBase, username: string, errors: SqlFailure[]) {
  const name = pg.escapeIdentifier(username);
  const terminate = 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()';
  try {
    await client.query(`ALTER ROLE ${name} NOLOGIN`);
    const { rows } = await client.query<{ superuser: boolean }>('SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user');
    if (rows[0]?.superuser) {
      await client.query(terminate, [username]);
      return;
    }
    await inTransaction(client, [], {}, async () => {
      await client.query(`GRANT ${name} TO CURRENT_USER`);
      await client.query(terminate, [username]);
      await client.query(`REVOKE ${name} FROM CURRENT_USER`);
      return true;
    });
  } catch (error) {
    errors.push(error instanceof StatementError ? { ...error.failure, statementIndex: -1 } : failureOf(error, -1));
  }
}

/**
 * Revokes by outcome: blocks new logins, ends open sessions, runs each revocation statement on its own
 * (on PostgreSQL 15 a failing REASSIGN OWNED must not stop DROP ROLE), then asks whether the role is gone.
 */
export async function dropRole(client: pg.ClientBase, statements: string[], username: string) {
  const errors: SqlFailure[] = [];
  if (!(await roleExists(client, username))) return { roleGone: true, errors };
  await endSessions(client, username, errors);
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
