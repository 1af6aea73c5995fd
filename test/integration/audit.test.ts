import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unkeyedHash } from '../../store/audit';
import { tamperWithAudit } from '../support/audit';
import { grant, mintToken } from '../support/auth';
import { configureGuideEngine, issuedUsernames } from '../support/guide';
import { createTargetDatabase, type TargetDatabase } from '../support/postgres';
import { startStack, type Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
/** Every secret value this file hands the API or gets back from it: none may reach the audit table. */
const secrets: string[] = [];

beforeAll(async () => {
  [stack, target] = await Promise.all([startStack(), createTargetDatabase({ withGrantOption: true })]);
  ({ engine } = await configureGuideEngine(stack, target));
  secrets.push(stack.rootToken, target.adminPassword);
});

afterAll(async () => {
  const users = stack ? await issuedUsernames(stack) : [];
  await stack?.stop();
  await target?.drop(users);
});

interface Entry {
  id: string;
  timestamp: string;
  identity_id: string;
  action: string;
  path: string;
  result: string;
  extra_data: Record<string, unknown>;
}

async function logs(query: string): Promise<Entry[]> {
  const { status, body } = await stack.call('GET', `/v1/audit?${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body.logs;
}
const countRows = async () => Number((await stack.stores.db.query('SELECT count(*) FROM audit_log')).rows[0].count);

describe('audit entries', () => {
  let service: string;
  let leaseId: string;
  let expiringLeaseId: string;

  beforeAll(async () => {
    const minted = await mintToken(stack, 'svc:reporting', ['dynamic:generate', 'secrets:read', 'secrets:write']);
    service = minted.token;
    secrets.push(service);
    await grant(
      stack,
      'reporting',
      [
        { path_pattern: `dynamic/${engine}/creds/readonly`, permissions: ['generate'] },
        { path_pattern: 'app/reporting/*', permissions: ['read', 'write'] },
      ],
      'svc:reporting',
    );

    expect(
      (
        await stack.call(
          'PUT',
          '/v1/secrets/app/reporting/api-key',
          { data: { key: 'canary-secret-value-1' } },
          service,
        )
      ).status,
    ).toBe(200);
    const read = await stack.call('GET', '/v1/secrets/app/reporting/api-key', undefined, service);
    expect(read.body.data.key).toBe('canary-secret-value-1');
    secrets.push('canary-secret-value-1');

    const issued = await stack.call(
      'POST',
      `/v1/dynamic/engines/${engine}/creds/readonly`,
      { ttl: '1h', metadata: { purpose: 'body-canary' } },
      service,
    );
    expect(issued.status).toBe(200);
    leaseId = issued.body.lease_id;
    secrets.push(issued.body.data.password, issued.body.data.connection_url);
    expect((await stack.call('POST', `/v1/dynamic/leases/${leaseId}/renew`, { increment: '2h' }, service)).status).toBe(
      200,
    );
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${leaseId}`, undefined, service)).status).toBe(204);

    const expiring = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: 2 }, service);
    expect(expiring.status).toBe(200);
    expiringLeaseId = expiring.body.lease_id;
    secrets.push(expiring.body.data.password);

    expect((await stack.call('GET', '/v1/auth/whoami', undefined, 'svt_wrong-guess-canary')).status).toBe(401);
    expect((await stack.call('GET', `/v1/dynamic/engines/${engine}`, undefined, service)).status).toBe(403);
  });

  it('record mint, renew and revoke with the lease id and the identity that acted', async () => {
    for (const action of ['dynamic_generate', 'dynamic_renew', 'dynamic_revoke']) {
      const [entry] = await logs(`action=${action}&identity_id=svc:reporting&limit=1`);
      expect(entry, action).toMatchObject({
        identity_id: 'svc:reporting',
        action,
        path: `dynamic/${engine}/creds/readonly`,
        result: 'success',
      });
      expect(entry!.id).toMatch(/^\d+$/);
      expect(Date.parse(entry!.timestamp)).not.toBeNaN();
    }
    const mine = await logs('identity_id=svc:reporting&limit=100');
    const leaseActions = mine
      .filter((e) => e.action.startsWith('dynamic_') && e.extra_data.lease_id === leaseId)
      .map((e) => e.action);
    expect(leaseActions.sort()).toEqual(['dynamic_generate', 'dynamic_renew', 'dynamic_revoke']);
  });

  it('record the expiry the workflow performs, with no HTTP call behind it', async () => {
    const expired = await waitFor(
      () => logs('action=dynamic_expire'),
      (l) => l.some((e) => e.extra_data.lease_id === expiringLeaseId),
    );
    expect(expired.find((e) => e.extra_data.lease_id === expiringLeaseId)).toMatchObject({
      identity_id: 'system:dynamic-engines',
      path: `dynamic/${engine}/creds/readonly`,
      result: 'success',
    });
  });

  it('record secret writes and reads, and every auth failure', async () => {
    expect((await logs('action=secret_write&identity_id=svc:reporting'))[0]).toMatchObject({
      path: 'app/reporting/api-key',
      result: 'success',
    });
    expect((await logs('action=secret_read&identity_id=svc:reporting'))[0]).toMatchObject({
      path: 'app/reporting/api-key',
      result: 'success',
    });
    const failures = await logs('action=auth_fail');
    expect(failures.find((e) => e.identity_id === 'anonymous')).toMatchObject({
      path: '/v1/auth/whoami',
      result: 'failure',
      extra_data: { status: 401 },
    });
    expect(failures.find((e) => e.identity_id === 'svc:reporting')).toMatchObject({
      result: 'failure',
      extra_data: { status: 403 },
    });
  });

  it('record one entry per mutating call of this issue: tokens, policies, bindings', async () => {
    const before = await countRows();
    const token = await mintToken(stack, 'svc:counted', ['audit:read']);
    const policy = await grant(stack, 'counted', [{ path_pattern: 'x/*', permissions: ['read'] }], 'svc:counted');
    expect((await stack.call('DELETE', `/v1/auth/tokens/${token.token_id}`)).status).toBe(204);
    expect((await stack.call('DELETE', `/v1/policies/${policy}`)).status).toBe(204);
    expect(await countRows()).toBe(before + 5);
    const actions = (await logs('limit=5')).map((e) => `${e.action}:${e.extra_data.operation ?? ''}`);
    expect(actions).toEqual([
      'policy_write:delete',
      'token_revoke:',
      'policy_write:bind',
      'policy_write:create',
      'token_create:',
    ]);
    secrets.push(token.token);
  });

  it('never hold a secret value or a copied request body in any column', async () => {
    const { rows } = await stack.stores.db.query<{ row: string }>('SELECT a::text AS row FROM audit_log a');
    const table = rows.map((r) => r.row).join('\n');
    expect(rows.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(table).not.toContain(secret);
    expect(table).not.toContain('body-canary');
    expect(table).not.toContain('svt_wrong-guess-canary');
  });
});

describe('GET /v1/audit', () => {
  it('filters by time range and paginates newest first with a cursor', async () => {
    const all = await logs('limit=1000');
    expect(all.length).toBeGreaterThan(6);
    const pages: Entry[] = [];
    let cursor = '';
    for (let page = 0; page < 100; page++) {
      const { body } = await stack.call('GET', `/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(...body.logs);
      if (!body.next_cursor) break;
      cursor = body.next_cursor;
    }
    expect(pages.map((e) => e.id)).toEqual(all.map((e) => e.id));

    const middle = all[Math.floor(all.length / 2)]!;
    const since = await logs(`since=${encodeURIComponent(middle.timestamp)}&limit=1000`);
    expect(since.every((e) => e.timestamp >= middle.timestamp)).toBe(true);
    expect(since.map((e) => e.id)).toContain(middle.id);
    const until = await logs(`until=${encodeURIComponent(middle.timestamp)}&limit=1000`);
    expect(until.every((e) => e.timestamp <= middle.timestamp)).toBe(true);
    expect(since.length + until.length).toBeGreaterThanOrEqual(all.length);
    expect((await logs('since=1h&limit=1000')).length).toBe(all.length);
  });

  it('refuses a malformed filter with 400 and a token without audit:read with 403', async () => {
    expect((await stack.call('GET', '/v1/audit?since=yesterday')).status).toBe(400);
    expect((await stack.call('GET', '/v1/audit?limit=0')).status).toBe(400);
    const reader = await mintToken(stack, 'svc:no-audit', ['secrets:read']);
    expect((await stack.call('GET', '/v1/audit', undefined, reader.token)).status).toBe(403);
  });
});

const tamper = (sql: string, params: unknown[] = []) => tamperWithAudit(stack, sql, params);

describe('an audit write failure', () => {
  it('fails the request instead of skipping the record, and a secret read returns no value', async () => {
    await stack.stores.db.query(
      `
      CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS ` +
        `$$ BEGIN RAISE EXCEPTION 'audit store down'; END $$;
      CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down();`,
    );
    try {
      const read = await stack.call('GET', '/v1/secrets/app/reporting/api-key');
      expect(read.status).toBe(500);
      expect(read.body.error.code).toBe('internal');
      expect(JSON.stringify(read.body)).not.toContain('canary-secret-value-1');
      // A refused authentication stays refused; it may be one a window's aggregated entry counts, written later.
      expect([401, 500]).toContain(
        (await stack.call('GET', '/v1/auth/whoami', undefined, 'svt_unaudited-failure')).status,
      );
    } finally {
      await stack.stores.db.query('DROP TRIGGER audit_down ON audit_log; DROP FUNCTION audit_down();');
    }
  });

  it(
    'leaves no change behind: a secret, policy, role, engine, ' + 'token or webhook whose entry failed was never made',
    async () => {
      const before = await countRows();
      const mintedBefore = Number((await stack.stores.db.query('SELECT count(*) FROM tokens')).rows[0].count);
      await stack.stores.db.query(
        `
      CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS ` +
          `$$ BEGIN RAISE EXCEPTION 'audit store down'; END $$;
      CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down();`,
      );
      try {
        const changes: Array<[string, string, unknown]> = [
          ['PUT', '/v1/secrets/app/reporting/api-key', { data: { key: 'never-written' } }],
          ['POST', '/v1/policies', { name: 'unaudited', rules: [{ path_pattern: 'a', permissions: ['read'] }] }],
          ['POST', `/v1/dynamic/engines/${engine}/roles`, { ...target.guideRole, name: 'unaudited' }],
          ['PATCH', `/v1/dynamic/engines/${engine}`, { default_ttl: '17m' }],
          ['POST', '/v1/auth/tokens', { identity_id: 'svc:unaudited', scopes: ['secrets:read'] }],
          ['POST', '/v1/webhooks', { url: 'https://hooks.example.com/x', events: ['secret.rotated'] }],
          ['DELETE', '/v1/secrets/app/reporting/api-key', undefined],
        ];
        for (const [method, url, body] of changes)
          expect((await stack.call(method, url, body)).status, `${method} ${url}`).toBe(500);
      } finally {
        await stack.stores.db.query('DROP TRIGGER audit_down ON audit_log; DROP FUNCTION audit_down();');
      }
      expect((await stack.call('GET', '/v1/secrets/app/reporting/api-key')).body.data.key).toBe(
        'canary-secret-value-1',
      );
      expect((await stack.stores.db.query(`SELECT 1 FROM policies WHERE name = 'unaudited'`)).rowCount).toBe(0);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}/roles/unaudited`)).status).toBe(404);
      expect((await stack.call('GET', `/v1/dynamic/engines/${engine}`)).body.default_ttl).not.toBe(17 * 60);
      expect(Number((await stack.stores.db.query('SELECT count(*) FROM tokens')).rows[0].count)).toBe(mintedBefore);
      expect((await stack.stores.db.query('SELECT 1 FROM webhooks')).rowCount).toBe(0);
      expect(await countRows()).toBe(before + 1); // the secret read just now
    },
  );
});

describe('entries with an idempotency key', () => {
  it('are written once, however often and however concurrently they are appended', async () => {
    const entry = {
      identity_id: 'system:dynamic-engines',
      action: 'test_once',
      path: 'once',
      result: 'success' as const,
      idempotency_key: 'lease_once:test_once',
    };
    await Promise.all(Array.from({ length: 5 }, () => stack.stores.audit.append(entry)));
    await stack.stores.audit.append(entry);
    expect((await stack.stores.db.query(`SELECT 1 FROM audit_log WHERE action = 'test_once'`)).rowCount).toBe(1);
  });
});

describe('chain verification', () => {
  const verify = async () => {
    const { status, body } = await stack.call('GET', '/v1/audit/verify');
    expect(status).toBe(200);
    return body as {
      valid: boolean;
      checked: number;
      first_broken_id?: string;
      reason?: string;
      checkpoint?: { last_id: string } | null;
    };
  };

  it('holds for appends written together in batches, each entry once and in its own place in the chain', async () => {
    const before = await countRows();
    const marks = Array.from({ length: 60 }, (_, i) => `batched-${i}`);
    await Promise.all(
      marks.map((mark) =>
        stack.stores.audit.append({
          identity_id: 'batch-test',
          action: 'test_batch',
          path: mark,
          result: 'success',
          extra_data: { mark },
        }),
      ),
    );
    const { rows } = await stack.stores.db.query<{ path: string; n: string }>(
      "SELECT path, count(*) AS n FROM audit_log WHERE action = 'test_batch' GROUP BY path",
    );
    expect(rows.map((r) => [r.path, Number(r.n)]).sort()).toEqual(marks.map((m) => [m, 1]).sort());
    expect(await countRows()).toBe(before + marks.length);
    expect((await verify()).valid).toBe(true);
  });

  it('holds for the untouched log', async () => {
    const result = await verify();
    expect(result).toMatchObject({ valid: true });
    expect(result.checked).toBe(await countRows());
  });

  it('is append-only for the product itself: UPDATE, DELETE and TRUNCATE are refused', async () => {
    for (const sql of [
      `UPDATE audit_log SET identity_id = 'someone-else'`,
      'DELETE FROM audit_log',
      'TRUNCATE audit_log',
    ]) {
      await expect(stack.stores.db.query(sql), sql).rejects.toThrow(/append-only/);
    }
    expect((await verify()).valid).toBe(true);
  });

  it('finds an edited row, holds again once the edit is undone, and finds an edit of extra_data', async () => {
    const { rows } = await stack.stores.db.query('SELECT id, identity_id FROM audit_log ORDER BY id LIMIT 1 OFFSET 5');
    const { id, identity_id } = rows[0];
    await tamper(`UPDATE audit_log SET identity_id = 'someone-else' WHERE id = $1`, [id]);
    expect(await verify()).toMatchObject({
      valid: false,
      first_broken_id: String(id),
      reason: 'entry content altered',
    });
    await tamper('UPDATE audit_log SET identity_id = $2 WHERE id = $1', [id, identity_id]);
    expect((await verify()).valid).toBe(true);
    await tamper(`UPDATE audit_log SET extra_data = extra_data || '{"ttl": 1}' WHERE id = $1`, [id]);
    expect(await verify()).toMatchObject({ valid: false, first_broken_id: String(id) });
    await tamper(`UPDATE audit_log SET extra_data = extra_data - 'ttl' WHERE id = $1`, [id]);
    expect((await verify()).valid).toBe(true);
  });

  it(
    'finds an entry and every hash after it rewritten by whoever lacks the key, ' + 'keyed or posing as unkeyed',
    async () => {
      const { rows } = await stack.stores.db.query<{ id: string }>(
        'SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 3',
      );
      const forgedId = rows[0]!.id;
      // The forger recomputes every hash from the edited entry on, as an unkeyed chain would let them.
      const forge = async (keyId: 'keep' | 'drop') => {
        await tamper(`UPDATE audit_log SET identity_id = 'forger' WHERE id = $1`, [forgedId]);
        const all = (await stack.stores.db.query('SELECT * FROM audit_log WHERE id >= $1 ORDER BY id', [forgedId]))
          .rows;
        let prev = (
          await stack.stores.db.query('SELECT hash FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT 1', [forgedId])
        ).rows[0].hash as string;
        for (const row of all) {
          const hash = unkeyedHash(prev, { ...row, timestamp: row.timestamp.toISOString() });
          await tamper(
            `UPDATE audit_log SET prev_hash = $2, hash = $3${keyId === 'drop' ? ', key_id = NULL' : ''} WHERE id = $1`,
            [row.id, prev, hash],
          );
          prev = hash;
        }
      };
      await forge('keep');
      expect(await verify()).toMatchObject({
        valid: false,
        first_broken_id: String(forgedId),
        reason: 'entry content altered',
      });
      await forge('drop');
      expect(await verify()).toMatchObject({
        valid: false,
        first_broken_id: String(forgedId),
        reason: expect.stringMatching(/unkeyed entry after keyed ones/),
      });
    },
  );
});

describe('a cut-off tail', () => {
  it('is seen against the checkpoint the API keeps in Temporal, which says what is missing', async () => {
    // A log of its own: the file's other edits above left this one's chain broken on purpose.
    const fresh = await startStack();
    try {
      for (let i = 0; i < 5; i++)
        await fresh.stores.audit.append({
          identity_id: 'tail-test',
          action: 'test_tail',
          path: `tail-${i}`,
          result: 'success',
        });
      const { rows } = await fresh.stores.db.query<{ id: string }>('SELECT id FROM audit_log ORDER BY id DESC LIMIT 2');
      const [newest, second] = [rows[0]!.id, rows[1]!.id];
      // The API's periodic checkpoint, taken now; the worker records it in the workflow's memo.
      await fresh.checkpointAudit();
      const checkpointed = await waitFor(
        async () => (await fresh.call('GET', '/v1/audit/verify')).body,
        (b) => b.checkpoint?.last_id === newest,
        20_000,
      );
      expect(checkpointed).toMatchObject({ valid: true, checkpoint: { last_id: newest } });

      await tamperWithAudit(fresh, 'DELETE FROM audit_log WHERE id >= $1', [second]);
      const cut = (await fresh.call('GET', '/v1/audit/verify')).body;
      expect(cut).toMatchObject({ valid: false, first_broken_id: second, checkpoint: { last_id: newest } });
      expect(cut.reason).toMatch(
        new RegExp(`entries after id \\d+ are missing: the checkpoint of .* names entry ${newest}`),
      );
    } finally {
      await fresh.stop();
    }
  });
});
