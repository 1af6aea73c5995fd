import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScaiVaultClient, type Credentials } from '../../client';
import { HeldCredential } from '../../client/held-credential';
import { RotatingPool } from '../../client/rotating-pool';
import { configureGuideEngine, withGuideStack, type GuideContext } from '../support/guide';
import { roleExists } from '../support/postgres';
import { waitFor } from '../support/wait';

/** The TypeScript client as a service uses it: a held credential, a pool that follows it, a shutdown hook. */
let c: GuideContext;
withGuideStack({ withGrantOption: true, configure: false }, (context) => (c = context));

const ROOT = path.resolve(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a held credential', () => {
  it(
    'renews across several TTLs, rotates past the max TTL, ' + 'and a query load through the rotating pool never fails',
    async () => {
      const { engine } = await configureGuideEngine(c.stack, c.target, {
        name: 'short',
        default_ttl: '3s',
        max_ttl: '8s',
      });
      const client = new ScaiVaultClient(c.stack.baseUrl, c.stack.rootToken);
      const held = await HeldCredential.acquire({ client, engine, role: 'short', ttl: '3s', graceMs: 1_000 });
      const events = {
        renewed: 0,
        rotated: [] as Array<{ next: Credentials; previous: Credentials }>,
        errors: [] as string[],
      };
      held.on('renewed', () => events.renewed++);
      held.on('rotated', (next, previous) => events.rotated.push({ next, previous }));
      held.on('error', (error) => events.errors.push(error.message));
      const pool = new RotatingPool(held, { max: 4 });
      const first = held.current.data.username;
      let queries = 0;
      const failures: string[] = [];
      const load = async (until: number) => {
        while (Date.now() < until) {
          try {
            const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
            if (rows[0]!.n !== 42) failures.push(`read ${rows[0]!.n} orders`);
            queries++;
          } catch (error) {
            failures.push((error as Error).message);
          }
          await sleep(10);
        }
      };
      try {
        const until = Date.now() + 14_000;
        await Promise.all([load(until), load(until), load(until)]);
      } finally {
        await held.stop();
        await pool.end();
      }
      expect(failures).toEqual([]);
      expect(queries).toBeGreaterThan(100);
      expect(events.renewed).toBeGreaterThanOrEqual(2);
      expect(events.rotated.length).toBeGreaterThanOrEqual(1);
      expect(events.rotated[0]!.previous.data.username).toBe(first);
      expect(events.rotated[0]!.next.data.username).not.toBe(first);
      // The replaced lease is revoked after its grace period, the held one on stop.
      expect(await roleExists(first)).toBe(false);
      await waitFor(
        () => roleExists(held.current.data.username),
        (exists) => !exists,
        10_000,
      );
      expect(events.errors).toEqual([]);
    },
    60_000,
  );

  it("is revoked from the service's shutdown hook: SIGTERM, and the role is gone within 5 s", async () => {
    const { engine } = await configureGuideEngine(c.stack, c.target);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'test/support/held-credential-child.ts'),
        c.stack.baseUrl,
        c.stack.rootToken,
        engine,
        'readonly',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const line = await waitFor(
      async () => out,
      (o) => o.includes('\n'),
      30_000,
    );
    const { username } = JSON.parse(line.trim()) as { username: string };
    expect(await roleExists(username)).toBe(true);
    const exit = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    child.kill('SIGTERM');
    await waitFor(
      () => roleExists(username),
      (exists) => !exists,
      5_000,
    );
    expect(await roleExists(username)).toBe(false);
    // The process then ended as SIGTERM would have ended it without the hook.
    expect(await exit).toBe('SIGTERM');
  }, 60_000);
});

describe('a revocation that does not wait', () => {
  it('answers 202 once it is durably requested, and the role is gone moments later', async () => {
    const { engine } = await configureGuideEngine(c.stack, c.target);
    const minted = await c.stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {});
    const answer = await c.stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}?wait=false`);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ lease_id: minted.body.lease_id, state: 'revoking' });
    await waitFor(
      () => roleExists(minted.body.data.username),
      (exists) => !exists,
      10_000,
    );
    expect((await c.stack.call('GET', `/v1/dynamic/leases/${minted.body.lease_id}`)).body.state).toBe('revoked');
    // Audited once, by the workflow with the lease's end, for the identity that asked.
    const entries = (await c.stack.call('GET', '/v1/audit?action=dynamic_revoke&limit=100')).body.logs.filter(
      (e: { extra_data: { lease_id?: string } }) => e.extra_data.lease_id === minted.body.lease_id,
    );
    expect(entries).toEqual([
      expect.objectContaining({
        identity_id: 'root',
        result: 'success',
        extra_data: expect.objectContaining({ outcome: 'revoked' }),
      }),
    ]);
    expect((await c.stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}?wait=false`)).status).toBe(204);
    expect(
      (await c.stack.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}?wait=false&force=true`)).status,
    ).toBe(400);
  });
});
