import pg from 'pg';
import { lastResult } from '../lib/pg-pool';
import { render } from '../lib/templates';
import { describe } from './target-pools';

/** Catalog conflicts that a retry resolves: "tuple concurrently updated", serialization failure, deadlock. */
const TRANSIENT_SQLSTATES = new Set(['XX000', '40001', '40P01']);
/** One lock per target database: transactions whose statements rewrite table ACLs take it, so they never race. */
export const TAKE_ACL_LOCK = "SELECT pg_advisory_xact_lock(hashtext('scaivault:acl'))";
const MAX_CONFLICT_RETRIES = 8;
/** `role ... does not exist` */
const UNDEFINED_OBJECT = '42704';

export interface SqlFailure {
  statementIndex: number;
  sqlstate?: string;
  message: string;
  hint?: string;
}

/** Statements that rewrite object ACLs (`pg_class.relacl` and friends) conflict when run in parallel. */
export const touchesAcl = (statement: string) =>
  /\b(GRANT|REVOKE)\b[\s\S]*\bON\b/i.test(statement) ||
  /\b(DROP|REASSIGN)\s+OWNED\b/i.test(statement) ||
  /\bALTER\s+DEFAULT\s+PRIVILEGES\b/i.test(statement);

export const needsAclLock = (statements: string[]) => statements.some(touchesAcl);

/** Leading white space, comments and parentheses: what may stand before a statement's first keyword. */
const LEADING_NOISE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/;
const SESSION_CONTROL =
  /^(?:(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION|DISCARD|RESET)\b|SET\s+(?!LOCAL\b))/i;

/**
 * Why a role statement may not run, if it controls the transaction or the session: a COMMIT would end the
 * transaction a role's statements run in (and commit a dry run), and a session-level SET or RESET would
 * stay on the pooled admin connection for every lease after it. `SET LOCAL` ends with its transaction.
 */
export function sessionControlProblem(statement: string): string | undefined {
  const keyword = statement.replace(LEADING_NOISE, '').match(SESSION_CONTROL)?.[0];
  return keyword
    ? `${keyword.trim().toUpperCase()} controls the transaction or the session, ` +
        'which ScaiVault runs the statements in; use SET LOCAL for a setting'
    : undefined;
}

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
 * A role statement, rendered and sent alone by the extended query protocol, which refuses more than one
 * command in a string: what the role defines is exactly what runs.
 */
export function runRoleStatement(client: pg.ClientBase, statement: string, values: Record<string, string>) {
  // node-postgres reads `queryMode`; its type definitions do not list it yet.
  const query: pg.QueryConfig & { queryMode: 'extended' } = { text: render(statement, values), queryMode: 'extended' };
  return client.query(query);
}

export interface TransactionSteps {
  /**
   * SQL of our own sent with BEGIN in one round trip; its rows go to `proceed`, which may return false to
   * skip the statements. Only for text whose literals are escaped: it goes by the simple query protocol.
   */
  opening?: { sql: string; proceed: (rows: Record<string, unknown>[]) => Promise<boolean> | boolean };
  /** SQL of our own run after the statements, sent with COMMIT in one round trip (escaped, as above). */
  closing?: string;
}

/** Retries `run` on catalog conflicts; a database error it finally fails with names the statement at fault. */
async function retryingConflicts(run: (failedAt: (index: number) => void) => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let index = 0;
    try {
      return await run((i) => (index = i));
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (TRANSIENT_SQLSTATES.has(code) && attempt < MAX_CONFLICT_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20));
        continue;
      }
      if (error instanceof pg.DatabaseError) throw new StatementError(failureOf(error, index));
      throw error;
    }
  }
}

/**
 * Runs statements in one transaction, under the ACL lock when they need it, retrying catalog conflicts.
 * Our own SQL rides with BEGIN and COMMIT (`steps`), so a transaction costs two round trips beyond its
 * statements; each role statement is sent alone by the extended protocol.
 */
export async function applyRoleStatements(
  client: pg.ClientBase,
  statements: string[],
  values: Record<string, string>,
  steps: TransactionSteps = {},
): Promise<void> {
  const begin = [
    'BEGIN',
    ...(needsAclLock(statements) ? [TAKE_ACL_LOCK] : []),
    ...(steps.opening ? [steps.opening.sql] : []),
  ];
  const commit = [...(steps.closing ? [steps.closing] : []), 'COMMIT'];
  await retryingConflicts(async (failedAt) => {
    try {
      const opened = lastResult(await client.query(begin.join('; ')));
      if (!steps.opening || (await steps.opening.proceed(opened.rows))) {
        for (const [index, statement] of statements.entries()) {
          failedAt(index);
          await runRoleStatement(client, statement, values);
        }
        failedAt(0);
      }
      await client.query(commit.join('; '));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });
}

/** One statement on its own: a transaction of its own only when it needs the ACL lock. */
async function runAlone(client: pg.ClientBase, statement: string, values: Record<string, string>): Promise<void> {
  if (needsAclLock([statement])) return applyRoleStatements(client, [statement], values);
  await retryingConflicts(async () => void (await runRoleStatement(client, statement, values)));
}

/**
 * The comment that marks a role as this store's lease user: the reconciler touches no role without it,
 * and never one another ScaiVault instance (another store) created.
 */
export const leaseMarker = (m: RoleMarker) =>
  `scaivault lease=${m.leaseId} engine=${m.engine} store=${m.storeId} issued=${m.issuedAt}`;
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
 * Three round trips for a one-statement role: BEGIN with the existence check, the statement, the marker
 * with COMMIT.
 */
export async function createRole(
  client: pg.ClientBase,
  statements: string[],
  values: { name: string; password: string; expiration: string },
  marker: string,
) {
  const name = pg.escapeIdentifier(values.name);
  await applyRoleStatements(client, statements, values, {
    opening: {
      sql: `SELECT 1 FROM pg_roles WHERE rolname = ${pg.escapeLiteral(values.name)}`,
      proceed: async (rows) => {
        if (rows.length === 0) return true;
        await client.query(
          `ALTER ROLE ${name} WITH PASSWORD ${pg.escapeLiteral(values.password)} ` +
            `VALID UNTIL ${pg.escapeLiteral(values.expiration)}`,
        );
        return false;
      },
    },
    closing: `COMMENT ON ROLE ${name} IS ${pg.escapeLiteral(marker)}`,
  });
}

/**
 * Blocks the role's logins, committed on its own first, so a role whose revocation then fails can no longer
 * log in; the same round trip asks whether the admin is a superuser. `gone` when the role does not exist.
 */
async function blockLogins(client: pg.ClientBase, username: string, errors: SqlFailure[]) {
  const superuser = 'SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user';
  try {
    const { rows } = lastResult(
      await client.query(`ALTER ROLE ${pg.escapeIdentifier(username)} NOLOGIN; ${superuser}`),
    );
    return { superuser: rows[0]!.superuser as boolean };
  } catch (error) {
    if (!(error instanceof pg.DatabaseError)) throw error;
    if (error.code === UNDEFINED_OBJECT) return 'gone' as const;
    errors.push(failureOf(error, -1));
    return { superuser: (await client.query<{ superuser: boolean }>(superuser)).rows[0]!.superuser };
  }
}

/**
 * Ends the role's open sessions: DROP ROLE leaves them running. A CREATEROLE admin may terminate only
 * members' sessions, so it holds membership just long enough to do so: the three statements go as one
 * simple query, which Postgres runs as one transaction, so the membership never outlives it; keeping it
 * would change what the role's own revocation statements are allowed to do.
 */
async function endSessions(client: pg.ClientBase, username: string, superuser: boolean, errors: SqlFailure[]) {
  const name = pg.escapeIdentifier(username);
  const terminate =
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity ' +
    `WHERE usename = ${pg.escapeLiteral(username)} AND pid <> pg_backend_pid()`;
  try {
    const sql = superuser ? terminate : `GRANT ${name} TO CURRENT_USER; ${terminate}; REVOKE ${name} FROM CURRENT_USER`;
    await retryingConflicts(async () => void (await client.query(sql)));
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
  const blocked = await blockLogins(client, username, errors);
  if (blocked === 'gone') return { roleGone: true, errors };
  await endSessions(client, username, blocked.superuser, errors);
  for (const [index, statement] of statements.entries()) {
    try {
      await runAlone(client, statement, { name: username });
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      errors.push({ ...error.failure, statementIndex: index });
    }
  }
  return { roleGone: !(await roleExists(client, username)), errors };
}
