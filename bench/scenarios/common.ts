import pg from 'pg';
import { needsAclLock, TAKE_ACL_LOCK } from '../../engine/statements';
import { generatePassword, randomName } from '../../lib/random';
import { formatExpiration, render } from '../../lib/templates';
import type { BenchEnv, Shape } from '../lib/env';
import { runLoad, sleep, type Stats } from '../lib/load';

/** The issue's reference: hashicorp/vault-benchmark's postgresql_secret example run. */
export const VAULT_BENCHMARK = { rate: 221, mean: 44.9, p99: 77.4 };

export interface Figure {
  name: string;
  /** One line for the summary: the figure, its same-run baseline and their ratio. */
  line: string;
  data: Record<string, unknown>;
}

export interface ScenarioContext {
  env: BenchEnv;
  quick: boolean;
  log: (line: string) => void;
  /** Seconds each timed run lasts (split over alternating rounds). */
  runSeconds: number;
  /** Mints traced one by one in the breakdown (and per lever probe). */
  traced: number;
  /** Keeps a figure as soon as it is measured, so a later failure loses none. */
  report(figure: Figure): void;
}

export const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');
export const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
export const x = (v: number) => `${v.toFixed(2)}x`;
export const statsText = (s: Stats) =>
  `${rate(s.rate)}/s p50 ${ms(s.p50)} p95 ${ms(s.p95)} p99 ${ms(s.p99)} mean ${ms(s.mean)} ms` +
  `${s.errors ? ` (${s.errors} errors)` : ''}`;
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** One mint through the REST API; anything but 200 is a failed operation. */
export async function apiMint(env: BenchEnv, role: string, body: Record<string, unknown> = {}) {
  const response = await env.call('POST', `/v1/dynamic/engines/${env.engine}/creds/${role}`, body);
  if (response.status !== 200)
    throw new Error(
      `mint: ${response.status} ${response.body?.error?.code ?? ''} ${response.body?.error?.message ?? ''}`,
    );
  return response.body as { lease_id: string; expires_at: string; data: { username: string } };
}

/**
 * `count` leases of a day minted at c=16, their ids pushed to `leaseIds`: live leases for what runs after them.
 * Gives up (and throws) after 32 failed mints in a row rather than waiting out a dead worker's timeouts.
 */
export async function mintLiveLeases(env: BenchEnv, role: string, count: number, leaseIds: string[] = []) {
  const run = await runLoad(async () => void leaseIds.push((await apiMint(env, role, { ttl: '24h' })).lease_id), {
    concurrency: 16,
    maxOps: Math.max(0, count),
    giveUpAfterErrors: 32,
  });
  if (run.gaveUp) throw new Error(`filling live leases gave up after ${run.errors} failed mints: ${run.firstError}`);
  return run;
}

/** Revokes every lease of the role (the product's revoke-prefix), so the next run starts from none. */
export async function revokeAll(env: BenchEnv, role: string) {
  const response = await env.call('POST', '/v1/dynamic/leases/revoke-prefix', { engine: env.engine, role });
  if (response.status !== 200) throw new Error(`revoke-prefix: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { revoked: string[]; pending: string[] };
}

/**
 * The raw floor: the shape's creation statements, one transaction, on a pooled connection of a plain
 * `pg` client logged in as the engine's admin, with a plain password the server hashes. Statements that
 * rewrite table ACLs take the same advisory lock the product takes (without it they fail with "tuple
 * concurrently updated" above one connection, see the field notes).
 */
export function rawMinter(env: BenchEnv, shape: Shape, connections: number) {
  const pool = new pg.Pool({ ...env.targetConfig, max: connections });
  pool.on('error', () => {});
  const created: string[] = [];
  const lock = needsAclLock(shape.creation);
  return {
    created,
    async mint() {
      const name = `${env.rawPrefix}_${randomName(10)}`;
      const values = {
        name,
        password: generatePassword(),
        expiration: formatExpiration(new Date(Date.now() + 3600_000)),
      };
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        if (lock) await client.query(TAKE_ACL_LOCK);
        for (const statement of shape.creation) await client.query(render(statement, values));
        await client.query('COMMIT');
        created.push(name);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Drops raw-floor roles, in batches, as the engine's admin: their table grants were made by the admin, and
 * a superuser's DROP OWNED does not remove grants another grantor made.
 */
export async function dropRawRoles(env: BenchEnv, names: string[]) {
  const admin = new pg.Client(env.targetConfig);
  await admin.connect();
  try {
    for (let i = 0; i < names.length; i += 500) {
      const batch = names
        .slice(i, i + 500)
        .map((n) => pg.escapeIdentifier(n))
        .join(', ');
      await admin.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${batch}`);
      await admin.query(`DROP ROLE IF EXISTS ${batch}`);
    }
  } finally {
    await admin.end();
  }
  names.length = 0;
}

export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}
