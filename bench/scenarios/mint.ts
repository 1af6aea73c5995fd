import type { Shape } from '../lib/env';
import { merge, runLoad, stats, type RunResult } from '../lib/load';
import {
  apiMint,
  dropRawRoles,
  rawMinter,
  revokeAll,
  statsText,
  VAULT_BENCHMARK,
  x,
  ms,
  rate,
  type ScenarioContext,
} from './common';

const ROUNDS = 2;

/**
 * Mint throughput and latency through the REST API beside the raw floor, alternating API and raw in
 * short rounds so both see the same machine. Everything minted is revoked or dropped after each round.
 */
export async function mintScenario(ctx: ScenarioContext): Promise<void> {
  const { env, log } = ctx;
  for (const shape of [env.shapes.group, env.shapes.table]) {
    const role = await env.defineRole(shape, shape.key);
    await apiMint(env, role); // first use: pools and caches warm
    for (const concurrency of [1, 16]) {
      const seconds = ctx.runSeconds / ROUNDS;
      const api: RunResult[] = [];
      const raw: RunResult[] = [];
      const raw4: RunResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        raw.push(await rawRun(ctx, shape, concurrency, seconds));
        api.push(await runLoad(() => apiMint(env, role).then(() => {}), { concurrency, durationMs: seconds * 1000 }));
        // Per-table grants grow every table's ACL (field notes): revoke them before the next run. Group-role
        // leases cost no ACL and stay live; the scale figure counts them.
        if (shape.key === 'table') {
          const revoked = await revokeAll(env, role);
          if (revoked.pending.length) log(`  ${revoked.pending.length} revocations still pending after the round`);
        }
        // The worker opens at most 4 connections per engine: the floor at that width shows what the pool allows.
        if (concurrency > 4 && shape.key === 'group') raw4.push(await rawRun(ctx, shape, 4, seconds));
      }
      const a = stats(merge(api));
      const r = stats(merge(raw));
      const name = `mint ${shape.key} c=${concurrency}`;
      const ratio = r.rate / a.rate;
      let line = `${name.padEnd(20)} api ${statsText(a)} | raw floor ${statsText(r)}`;
      line += ` | floor/api ${x(ratio)} (aim <= 2x)`;
      const data: Record<string, unknown> = { shape: shape.label, concurrency, api: a, raw: r, floorOverApi: ratio };
      if (raw4.length) {
        const r4 = stats(merge(raw4));
        data.raw4 = r4;
        line += ` | raw at 4 conns ${rate(r4.rate)}/s`;
      }
      if (concurrency === 16 && shape.key === 'group') {
        line +=
          ` | vault-benchmark example ${VAULT_BENCHMARK.rate}/s` +
          ` mean ${VAULT_BENCHMARK.mean} p99 ${VAULT_BENCHMARK.p99} ms:` +
          ` ${a.rate > VAULT_BENCHMARK.rate ? 'beats' : 'below'} rate, mean ${ms(a.mean)}, p99 ${ms(a.p99)}`;
      }
      if (a.errors) data.firstApiError = merge(api).firstError;
      if (r.errors) data.firstRawError = merge(raw).firstError;
      log(line);
      ctx.report({ name, line, data });
    }
  }
}

async function rawRun(ctx: ScenarioContext, shape: Shape, connections: number, seconds: number): Promise<RunResult> {
  const minter = rawMinter(ctx.env, shape, connections);
  try {
    return await runLoad(() => minter.mint(), { concurrency: connections, durationMs: seconds * 1000 });
  } finally {
    await minter.close();
    await dropRawRoles(ctx.env, minter.created);
  }
}
