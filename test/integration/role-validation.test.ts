import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { configureGuideEngine, withGuideStack } from '../support/guide';
import { queryAs, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';

let stack: Stack;
let guideTarget: TargetDatabase;

// The guide's step 1 exactly: the admin gets SELECT without the grant option.
withGuideStack({ withGrantOption: false, configure: false }, (c) => ({ stack, target: guideTarget } = c));

describe('a role definition is tried against the database before it is saved', () => {
  it(
    "saves the guide's step 4 role on the guide's step 1 admin, " +
      'with warnings saying why orders will be unreadable',
    async () => {
      const { engine, roleResponse } = await configureGuideEngine(stack, guideTarget);
      const warnings: string[] = roleResponse.warnings;
      const orders = warnings.find((w) => w.includes('"orders"'));
      expect(orders).toMatch(/permission denied for table orders/);
      expect(orders).toMatch(/WITH GRANT OPTION/);
      expect(warnings.some((w) => /REASSIGN OWNED/.test(w) || /reassign objects/.test(w))).toBe(true);
      expect(warnings.join('\n')).toMatch(/permission denied to reassign objects[\s\S]*member/);
      expect(warnings.some((w) => /row is too big/.test(w) && /IN ROLE/.test(w))).toBe(true);

      // And the warning is true: the issued user logs in but cannot read orders.
      const minted = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
      expect(minted.status).toBe(200);
      await expect(queryAs(minted.body.data.connection_url, 'SELECT count(*) FROM orders')).rejects.toThrow(
        /permission denied/,
      );
      // The guide's revocation statements still remove a user that owns nothing, on PostgreSQL 15.
      expect((await stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}`)).status).toBe(204);
    },
  );

  it(
    'refuses a creation statement the database rejects, naming the statement, SQLSTATE and hint, ' +
      'and saves nothing',
    async () => {
      const { engine } = await configureGuideEngine(stack, guideTarget, { name: 'first' });
      const bad = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
        name: 'broken',
        creation_statements: [
          guideTarget.guideRole.creation_statements[0],
          'GRANT SELECT ON no_such_table TO "{{name}}"',
        ],
        revocation_statements: ['DROP ROLE IF EXISTS "{{name}}"'],
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('invalid_statements');
      expect(bad.body.error.details).toMatchObject({ phase: 'creation', statement_index: 1, sqlstate: '42P01' });
      expect(bad.body.error.message).toMatch(/no_such_table/);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}/roles/broken`)).status).toBe(404);
      const { rows } = await stack.stores.db.query(`SELECT 1 FROM roles WHERE name = 'broken'`);
      expect(rows).toHaveLength(0);
    },
  );

  it('refuses revocation statements that leave the user in place', async () => {
    const { engine } = await configureGuideEngine(stack, guideTarget, { name: 'second' });
    const bad = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      name: 'sticky',
      creation_statements: [guideTarget.guideRole.creation_statements[0]],
      revocation_statements: ['ALTER ROLE "{{name}}" NOLOGIN'],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_statements');
    expect(bad.body.error.details.phase).toBe('revocation');
    expect(bad.body.error.details.hint).toMatch(/DROP ROLE/);
  });

  it('refuses unknown placeholders and an unusable username template', async () => {
    const { engine } = await configureGuideEngine(stack, guideTarget, { name: 'third' });
    const unknown = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      name: 'typo',
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{pasword}}'`],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'invalid_statements' });
    expect(unknown.body.error.message).toMatch(/\{\{pasword\}\}/);
    const template = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
      name: 'fixed-name',
      creation_statements: [guideTarget.guideRole.creation_statements[0]],
      username_template: 'always_the_same',
    });
    expect(template.status).toBe(400);
  });
});

describe('a statement that never ends', () => {
  it(
    "is cancelled by the database at the engine's statement_timeout: " +
      "the dry run answers 400 in the database's words",
    async () => {
      const { engine } = await configureGuideEngine(
        stack,
        guideTarget,
        { name: 'quick' },
        { statement_timeout: '1s', lock_timeout: '1s' },
      );
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}`)).body.config).toMatchObject({
        statement_timeout: 1,
        lock_timeout: 1,
      });
      const started = Date.now();
      const slow = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
        name: 'sleeper',
        creation_statements: [guideTarget.guideRole.creation_statements[0], 'SELECT pg_sleep(600)'],
        revocation_statements: ['DROP ROLE IF EXISTS "{{name}}"'],
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(slow.status).toBe(400);
      expect(slow.body.error).toMatchObject({
        code: 'invalid_statements',
        details: { phase: 'creation', statement_index: 1, sqlstate: '57014' },
      });
      expect(slow.body.error.message).toMatch(/statement timeout/);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}/roles/sleeper`)).status).toBe(404);
    },
  );

  it('waiting on a lock is cancelled at lock_timeout, and the limits stay below the activity timeout', async () => {
    const { engine } = await configureGuideEngine(
      stack,
      guideTarget,
      { name: 'locker' },
      { statement_timeout: '5s', lock_timeout: '1s' },
    );
    const holder = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${guideTarget.name}` });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const blocked = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, {
        name: 'blocked',
        creation_statements: [guideTarget.guideRole.creation_statements[0], 'SELECT count(*) FROM orders'],
        revocation_statements: ['DROP ROLE IF EXISTS "{{name}}"'],
      });
      expect(blocked.status).toBe(400);
      expect(blocked.body.error.details).toMatchObject({ sqlstate: '55P03' });
      expect(blocked.body.error.message).toMatch(/lock timeout/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    for (const config of [
      { statement_timeout: '30s' },
      { statement_timeout: '0s' },
      { statement_timeout: '2s', lock_timeout: '3s' },
    ]) {
      const refused = await stack.call('PATCH', `/v1/dynamic/engines/${engine}`, { config });
      expect(refused.status, JSON.stringify(config)).toBe(400);
    }
  });
});
