import pg from 'pg';
import { call, runLoad, stats, type Stats } from '../lib/load';
import { credsPath } from '../../lib/access';
import { ms, statsText, waitUntil, x, type ScenarioContext } from './common';

/** A fleet of services rolling over: one shutdown hook's revocation every PACING_MS (10 per second). */
const PACING_MS = 100;

/**
 * Revocation from a shutdown hook: `DELETE ...?wait=false` (answered once the revocation is durably
 * requested) against the waiting `DELETE` (answered once the role is gone), one at a time, on leases a
 * service minted with its own token (the creator revokes its lease, as a hook does), in the same run.
 * Each is measured back to back (the next call as soon as the last answered: about the machine's whole
 * revoke capacity, so every call shares the cores with the revocations before it) and paced, at 10 per
 * second. Target: p99 under 50 ms without waiting; the roles go all the same, which the figure checks.
 */
export async function revokeScenario(ctx: ScenarioContext, count: number): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'revoke');
  const token = await serviceToken(ctx, role);
  const asService = (method: string, path: string, body?: unknown) => call(env.baseUrl, method, path, token, body);
  const mintBatch = async () => {
    const leases: Array<{ lease_id: string; username: string }> = [];
    await runLoad(
      async () => {
        const minted = await asService('POST', `/v1/dynamic/engines/${env.engine}/creds/${role}`, { ttl: '1h' });
        if (minted.status !== 200) throw new Error(`mint answered ${minted.status}`);
        leases.push({ lease_id: minted.body.lease_id, username: minted.body.data.username });
      },
      { concurrency: 8, maxOps: count },
    );
    return leases;
  };
  const revokeRun = async (leases: Array<{ lease_id: string }>, wait: boolean, pacingMs?: number) =>
    stats(
      await runLoad(
        async (i) => {
          const path = `/v1/dynamic/leases/${leases[i]!.lease_id}${wait ? '' : '?wait=false'}`;
          const { status } = await asService('DELETE', path);
          if (status !== (wait ? 204 : 202)) throw new Error(`revoke answered ${status}`);
        },
        { concurrency: 1, maxOps: leases.length, pacingMs },
      ),
    );

  const waiting = await revokeRun(await mintBatch(), true);
  const backToBack = await mintBatch();
  const noWait = await revokeRun(backToBack, false);
  const backToBackGoneMs = await allGoneAfter(ctx, backToBack);
  const paced = await mintBatch();
  const noWaitPaced = await revokeRun(paced, false, PACING_MS);
  const pacedGoneMs = await allGoneAfter(ctx, paced);

  const name = 'revoke without waiting';
  const part = (label: string, s: Stats) => `${label} ${statsText(s)}`;
  const line =
    `${name.padEnd(20)} ${part('wait=false, 10/s', noWaitPaced)} (p99 ${ms(noWaitPaced.p99)} ms, aim < 50)` +
    ` | ${part('wait=false back to back', noWait)} | ${part('waiting back to back', waiting)}` +
    ` | p99 waiting/no-wait ${x(waiting.p99 / noWait.p99)}` +
    ` | every role gone ${ms(pacedGoneMs)} ms (paced), ${ms(backToBackGoneMs)} ms (back to back) after the last answer`;
  log(line);
  ctx.report({
    name,
    line,
    data: { count, pacingMs: PACING_MS, noWaitPaced, noWait, waiting, pacedGoneMs, backToBackGoneMs },
  });
}

/** A service's token, as a service holds it: `dynamic:generate`, and a policy on the role's creds path only. */
async function serviceToken({ env }: ScenarioContext, role: string): Promise<string> {
  const identity = `svc:bench-${role}`;
  const policy = await env.call('POST', '/v1/policies', {
    name: `bench-${role}`,
    rules: [{ path_pattern: credsPath(env.engine, role), permissions: ['generate', 'renew', 'revoke'] }],
  });
  if (policy.status !== 201) throw new Error(`policy: ${policy.status} ${JSON.stringify(policy.body)}`);
  const bound = await env.call('POST', `/v1/policies/${policy.body.id}/bindings`, { identity_id: identity });
  if (bound.status !== 201) throw new Error(`binding: ${bound.status} ${JSON.stringify(bound.body)}`);
  const minted = await env.call('POST', '/v1/auth/tokens', { identity_id: identity, scopes: ['dynamic:generate'] });
  if (minted.status !== 201) throw new Error(`token: ${minted.status} ${JSON.stringify(minted.body)}`);
  return minted.body.token as string;
}

/** How long after now until none of these leases' roles exist. */
async function allGoneAfter({ env }: ScenarioContext, leases: Array<{ username: string }>): Promise<number> {
  const admin = new pg.Client({ ...env.targetConfig, user: 'postgres', password: undefined });
  await admin.connect();
  const t0 = performance.now();
  try {
    const names = leases.map((l) => l.username);
    const left = async () =>
      Number((await admin.query('SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)', [names])).rows[0].count);
    await waitUntil(async () => (await left()) === 0, 60_000);
  } finally {
    await admin.end();
  }
  return performance.now() - t0;
}
