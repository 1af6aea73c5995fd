import pg from 'pg';
import { runLoad, stats } from '../lib/load';
import { apiMint, ms, statsText, waitUntil, x, type ScenarioContext } from './common';

/**
 * Revocation from a shutdown hook: `DELETE ...?wait=false` (answered once the revocation is durably
 * requested) against the waiting `DELETE` (answered once the role is gone), one at a time, on leases of
 * the same role minted in the same run. Target: p99 under 50 ms without waiting; the roles go all the
 * same, which the figure checks and times.
 */
export async function revokeScenario(ctx: ScenarioContext, count: number): Promise<void> {
  const { env, log } = ctx;
  const role = await env.defineRole(env.shapes.group, 'revoke');
  const mintBatch = async () => {
    const leases: Array<{ lease_id: string; username: string }> = [];
    await runLoad(
      async () => {
        const lease = await apiMint(env, role, { ttl: '1h' });
        leases.push({ lease_id: lease.lease_id, username: lease.data.username });
      },
      { concurrency: 8, maxOps: count },
    );
    return leases;
  };
  const revokeRun = (leases: Array<{ lease_id: string }>, wait: boolean) =>
    runLoad(
      async (i) => {
        const { status } = await env.call(
          'DELETE',
          `/v1/dynamic/leases/${leases[i]!.lease_id}${wait ? '' : '?wait=false'}`,
        );
        if (status !== (wait ? 204 : 202)) throw new Error(`revoke answered ${status}`);
      },
      { concurrency: 1, maxOps: leases.length },
    );

  const waiting = stats(await revokeRun(await mintBatch(), true));
  const detached = await mintBatch();
  const noWait = stats(await revokeRun(detached, false));
  const admin = new pg.Client({ ...env.targetConfig, user: 'postgres', password: undefined });
  await admin.connect();
  const t0 = performance.now();
  try {
    const left = async () =>
      Number(
        (await admin.query('SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)', [detached.map((l) => l.username)]))
          .rows[0].count,
      );
    await waitUntil(async () => (await left()) === 0, 60_000);
  } finally {
    await admin.end();
  }
  const goneMs = performance.now() - t0;
  const name = 'revoke without waiting';
  const line =
    `${name.padEnd(20)} wait=false ${statsText(noWait)} | waiting ${statsText(waiting)}` +
    ` | p99 waiting/no-wait ${x(waiting.p99 / noWait.p99)}` +
    ` | p99 ${ms(noWait.p99)} ms (aim < 50) | every role gone ${ms(goneMs)} ms after the last answer`;
  log(line);
  ctx.report({ name, line, data: { count, noWait, waiting, rolesGoneMs: goneMs } });
}
