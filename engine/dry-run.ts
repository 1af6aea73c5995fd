import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages';
import { generatePassword, randomName } from '../lib/random';
import { scramVerifier } from '../lib/scram';
import { formatExpiration } from '../lib/templates';
import type { RoleStatements } from '../lib/lease';
import { needsAclLock, roleExists, runRoleStatement, TAKE_ACL_LOCK, type SqlFailure } from './statements';
import { describe } from './target-pools';

export type Phase = 'creation' | 'renew' | 'revocation';

/** A definition the database refuses, judged by outcome; details follow the contract's invalid_statements. */
export class DefinitionRejected extends Error {
  constructor(
    readonly phase: Phase,
    readonly failure: SqlFailure,
  ) {
    super(`${phase}_statements[${failure.statementIndex}]: ${failure.message}`);
    this.name = 'DefinitionRejected';
  }
}

const PER_TABLE_GRANT = /\bGRANT\b[\s\S]*\bON\s+(ALL\s+TABLES|TABLE\b|[a-z_."]+\s+TO)/i;
const NO_PRIVILEGES = /^no privileges were granted for "(.+)"$/;
const OWNED_DENIED = /permission denied to (reassign|drop) objects/;

/**
 * Runs a role's creation, renew and revocation statements against the database with a throwaway user,
 * in a transaction that is always rolled back. Creation and renew must succeed (they run as one
 * transaction at issue and renew time); revocation statements run one by one, as at revoke time, and
 * pass when the user is gone afterwards. Returns warnings for what the outcome survives.
 */
export async function dryRunRole(client: pg.ClientBase, statements: RoleStatements): Promise<string[]> {
  const admin = (await client.query<{ name: string }>('SELECT current_user AS name')).rows[0]!.name;
  const probe = `v_probe_${randomName(12)}`;
  const values = {
    name: probe,
    password: await scramVerifier(generatePassword()),
    expiration: formatExpiration(new Date(Date.now() + 3600_000)),
  };
  const warnings: string[] = [];
  const notices: NoticeMessage[] = [];
  const onNotice = (notice: NoticeMessage) => notices.push(notice);
  client.on('notice', onNotice);
  try {
    await client.query('BEGIN');
    if (needsAclLock([...statements.creation, ...statements.revocation])) await client.query(TAKE_ACL_LOCK);
    for (const phase of ['creation', 'renew', 'revocation'] as const) {
      for (const [index, statement] of statements[phase].entries()) {
        notices.length = 0;
        await client.query('SAVEPOINT statement');
        try {
          await runRoleStatement(client, statement, values);
          await client.query('RELEASE SAVEPOINT statement');
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT statement');
          const failure = {
            ...failureOf(error, index),
            hint: hintFor(error, admin) ?? (error as pg.DatabaseError).hint,
          };
          if (phase !== 'revocation') throw new DefinitionRejected(phase, failure);
          warnings.push(
            `revocation_statements[${index}] fails (${failure.sqlstate}): ${failure.message}` +
              (failure.hint ? `. ${failure.hint}` : ''),
          );
          continue;
        }
        for (const notice of notices) warnings.push(await explainNotice(client, phase, index, notice, probe, admin));
      }
      if (phase === 'creation' && !(await roleExists(client, probe))) {
        throw new DefinitionRejected('creation', {
          statementIndex: 0,
          message: 'the creation statements did not create a role named {{name}}',
        });
      }
    }
    if (await roleExists(client, probe)) {
      throw new DefinitionRejected('revocation', {
        statementIndex: statements.revocation.length - 1,
        message:
          'the user still exists after the revocation statements' + (warnings.length ? `: ${warnings.join('; ')}` : ''),
        hint: 'end the revocation statements with DROP ROLE IF EXISTS "{{name}}"',
      });
    }
  } finally {
    client.off('notice', onNotice);
    await client.query('ROLLBACK').catch(() => {});
  }
  if (statements.creation.some((s) => PER_TABLE_GRANT.test(s) && !/\bGRANT\s+"?[a-z0-9_]+"?\s+TO\b/i.test(s))) {
    warnings.push(
      'the creation statements grant table privileges to each lease user: ' +
        "every live lease adds an entry to each table's ACL, " +
        'and around 1,000-2,500 live leases Postgres fails with "row is too big". ' +
        'For many concurrent leases grant the privileges once to a group role ' +
        'and create users with CREATE ROLE "{{name}}" ... IN ROLE <group> (see the README)',
    );
  }
  return warnings;
}

function failureOf(error: unknown, statementIndex: number): SqlFailure {
  const e = error as Partial<pg.DatabaseError>;
  return { statementIndex, sqlstate: e.code, message: describe(error), hint: e.hint };
}

function hintFor(error: unknown, admin: string): string | undefined {
  const message = describe(error);
  if (OWNED_DENIED.test(message)) {
    return (
      `On PostgreSQL 15 and older, ${admin} may REASSIGN or DROP OWNED only for roles it is a member of. ` +
      'While lease users own nothing, DROP ROLE still succeeds; ' +
      'a lease user that creates objects will not be dropped (the lease shows revocation_failed). ' +
      `Add GRANT "{{name}}" TO ${admin} to the creation statements to make these statements work`
    );
  }
  return undefined;
}

/** Turns a Postgres notice into a warning that says what it means for issued users. */
async function explainNotice(
  client: pg.ClientBase,
  phase: Phase,
  index: number,
  notice: NoticeMessage,
  probe: string,
  admin: string,
) {
  const where = `${phase}_statements[${index}]`;
  const object = notice.message?.match(NO_PRIVILEGES)?.[1];
  if (!object) return `${where}: ${notice.severity ?? 'NOTICE'}: ${notice.message}`;
  const { rows } = await client.query<{ kind: string | null; granted: boolean | null }>(
    `SELECT
       CASE WHEN to_regclass(quote_ident($2)) IS NOT NULL THEN 'table'
            WHEN EXISTS (SELECT 1 FROM pg_database WHERE datname = $2) THEN 'database'
            WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2) THEN 'schema' END AS kind,
       CASE WHEN to_regclass(quote_ident($2)) IS NOT NULL
              THEN has_table_privilege($1, to_regclass(quote_ident($2)), 'SELECT')
            WHEN EXISTS (SELECT 1 FROM pg_database WHERE datname = $2)
              THEN has_database_privilege($1, $2, 'CONNECT')
            WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2)
              THEN has_schema_privilege($1, $2, 'USAGE') END AS granted`,
    [probe, object],
  );
  const { kind, granted } = rows[0] ?? { kind: null, granted: null };
  if (granted) {
    return (
      `${where}: no privileges were granted for "${object}" (${admin} does not own it); ` +
      'issued users still have access through PUBLIC'
    );
  }
  if (kind === 'table') {
    return (
      `${where}: no privileges were granted for "${object}": ` +
      `${admin} holds no grant option on it, so issued users will get ` +
      `"permission denied for table ${object}". ` +
      `Fix: GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${admin} WITH GRANT OPTION ` +
      `(and ALTER DEFAULT PRIVILEGES ... GRANT SELECT ON TABLES TO ${admin} WITH GRANT OPTION for future tables), ` +
      'or use a group role'
    );
  }
  return (
    `${where}: no privileges were granted for "${object}": ` +
    `${admin} may not grant on it, and issued users will not have that access`
  );
}
