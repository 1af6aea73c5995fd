import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { adminQuery, roleExists, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine } = c));

const mint = async () => {
  const { status, body } = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: '1h' });
  expect(status).toBe(200);
  return body as { lease_id: string; data: { username: string; password: string; connection_url: string } };
};
const leaseState = async (id: string) => (await stack.call('GET', `/v1/dynamic/leases/${id}`)).body;

describe('renewals racing a revocation', () => {
  it(
    'run one at a time and never outlive it: 8 renewals and a revoke end revoked, the role gone, ' +
      'the record revoked',
    async () => {
      // Each renewal takes a while, so the later ones are still waiting their turn when the revoke arrives.
      const slow = {
        ...target.guideRole,
        name: 'slowrenew',
        renew_statements: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`, 'SELECT pg_sleep(0.3)'],
      };
      expect((await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, slow)).status).toBeLessThan(300);
      const { status, body: lease } = await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/slowrenew`, {
        ttl: '1h',
      });
      expect(status).toBe(200);

      const answers: { status: number; code?: string }[] = [];
      const renewals = Array.from({ length: 8 }, async () => {
        const answer = await stack.call('POST', `/v1/dynamic/leases/${lease.lease_id}/renew`, { increment: '30m' });
        answers.push({ status: answer.status, code: answer.body?.error?.code });
      });
      // All eight accepted by the workflow (one running, seven waiting), then the revoke.
      const handle = stack.temporal.workflow.getHandle(lease.lease_id);
      await waitFor(
        async () =>
          ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)
            .length,
        (accepted) => accepted >= 9,
        10_000,
      );
      const revoked = await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`);
      await Promise.all(renewals);

      expect(revoked.status).toBe(204);
      for (const answer of answers) expect([200, 409], JSON.stringify(answer)).toContain(answer.status);
      // A renewal either finished before the revocation began, or was refused: none is granted on a revoked
      // lease. Judged by the lease's own history (the HTTP answers of a renewal and the revoke can cross).
      const events = (await handle.fetchHistory()).events ?? [];
      const nameOf = new Map(
        events.flatMap((e) => {
          const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
          return accepted ? [[accepted.meta!.updateId!, accepted.input!.name!] as const] : [];
        }),
      );
      const revokeAcceptedAt = events.findIndex(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'revoke',
      );
      const revocationBeganAt = events.findIndex((e, i) => i > revokeAcceptedAt && e.markerRecordedEventAttributes);
      const grantedAt = events.flatMap((e, i) => {
        const completed = e.workflowExecutionUpdateCompletedEventAttributes;
        return completed?.outcome?.success && nameOf.get(completed.meta!.updateId!) === 'renew' ? [i] : [];
      });
      expect(revocationBeganAt).toBeGreaterThan(revokeAcceptedAt);
      expect(grantedAt.length).toBe(answers.filter((a) => a.status === 200).length);
      for (const at of grantedAt) expect(at).toBeLessThan(revocationBeganAt);
      expect(answers.filter((a) => a.status === 409).length).toBeGreaterThan(0);
      expect(await roleExists(lease.data.username)).toBe(false);
      expect((await leaseState(lease.lease_id)).state).toBe('revoked');
      const { rows } = await stack.stores.db.query('SELECT state FROM leases WHERE lease_id = $1', [lease.lease_id]);
      expect(rows[0].state).toBe('revoked');
    },
  );
});

describe('revocation is judged by its outcome', () => {
  it("ends the revoked user's open sessions", async () => {
    const lease = await mint();
    const session = new pg.Client({ connectionString: lease.data.connection_url });
    session.on('error', () => {});
    await session.connect();
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(42);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`)).status).toBe(204);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => {});
    expect(await roleExists(lease.data.username)).toBe(false);
  });

  it(
    'shows revocation_failed with the database message while the user owns objects, ' +
      'and finishes once that is mended',
    async () => {
      const lease = await mint();
      const schema = `owned_${lease.data.username}`;
      await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${lease.data.username}"`, [], target.name);

      const first = await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`);
      expect(first.status).toBe(202);
      expect(first.body.state).toBe('revocation_failed');
      expect(first.body.last_error).toMatch(
        /cannot be dropped because some objects depend on it|permission denied to (reassign|drop) objects/,
      );
      expect(await roleExists(lease.data.username)).toBe(true);
      expect((await leaseState(lease.lease_id)).state).toBe('revocation_failed');
      const { rows } = await stack.stores.db.query(
        `SELECT result, extra_data FROM audit_log WHERE extra_data->>'lease_id' = $1 AND result = 'failure'`,
        [lease.lease_id],
      );
      expect(rows.length).toBeGreaterThan(0);

      await adminQuery(`DROP SCHEMA ${schema}`, [], target.name);
      const done = await waitFor(
        () => leaseState(lease.lease_id),
        (l) => l.state === 'revoked',
        30_000,
      );
      expect(done.state).toBe('revoked');
      expect(await roleExists(lease.data.username)).toBe(false);
    },
  );

  it('lets an operator force a stuck revocation, recording that the role may remain', async () => {
    const lease = await mint();
    const schema = `stuck_${lease.data.username}`;
    await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${lease.data.username}"`, [], target.name);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}`)).status).toBe(202);
    const forced = await stack.call('DELETE', `/v1/dynamic/leases/${lease.lease_id}?force=true`);
    expect(forced.status).toBe(204);
    const shown = await leaseState(lease.lease_id);
    expect(shown).toMatchObject({ state: 'revoked', forced: true });
    expect(shown.last_error).toBeTruthy();
    expect(await roleExists(lease.data.username)).toBe(true);
    await adminQuery(`DROP SCHEMA ${schema}`, [], target.name);
  });

  it('revokes every active lease of a role by prefix', async () => {
    const leases = await Promise.all([mint(), mint(), mint()]);
    const result = await stack.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine, role: 'readonly' });
    expect(result.status).toBe(200);
    for (const lease of leases) {
      expect(result.body.revoked).toContain(lease.lease_id);
      expect(await roleExists(lease.data.username)).toBe(false);
    }
    const active = await stack.call('GET', `/v1/dynamic/leases?engine=${engine}&state=active`);
    expect(active.body.data).toEqual([]);
  });
});
