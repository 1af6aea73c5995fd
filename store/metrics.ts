import { Gauge, Registry } from 'prom-client';
import { UNFINISHED_STATES } from '../lib/lease';
import { processRegistry } from '../lib/metrics';
import type { Db } from './db';

/** The metrics read from the store at scrape time: right however many processes share it, and after restarts. */
/**
 * The registry `GET /metrics` serves: the process's own metrics plus lease counts read from `db` at each
 * scrape. Every configured role shows every unfinished state, at 0 when it has none, so a series never
 * vanishes when it drops to zero.
 */
export function metricsRegistry(db: Db): Registry {
  const store = new Registry();
  new Gauge({
    name: 'scaivault_leases',
    help:
      'Leases not yet ended, by engine, role and state (active, revoking, revocation_failed), ' +
      'read from the store at scrape time.',
    labelNames: ['engine', 'role', 'state'] as const,
    registers: [store],
    async collect() {
      const { rows } = await db.query<{ engine: string; role: string; state: string; leases: number }>(
        `SELECT r.engine, r.role, s.state, count(l.lease_id)::int AS leases
           FROM (SELECT engine, name AS role FROM roles
                 UNION SELECT engine, role FROM leases WHERE state = ANY($1::text[])) r
           CROSS JOIN unnest($1::text[]) AS s(state)
           LEFT JOIN leases l ON l.engine = r.engine AND l.role = r.role AND l.state = s.state
          GROUP BY r.engine, r.role, s.state`,
        [UNFINISHED_STATES],
      );
      this.reset();
      for (const { engine, role, state, leases } of rows) this.set({ engine, role, state }, leases);
    },
  });
  stateGauge(store, db, {
    name: 'scaivault_rotations',
    help:
      'Secret rotations by state (pending: awaiting confirmation; confirmed: in the grace period; ' +
      'completed, expired, failed), read from the store at scrape time.',
    label: 'state',
    table: 'rotations',
    states: ['pending', 'confirmed', 'completed', 'expired', 'failed'],
  });
  new Gauge({
    name: 'scaivault_webhook_delivery_failed_attempts',
    help:
      'Webhook delivery attempts that failed (no answer, or a non-2xx answer), ' +
      'summed over the recorded deliveries, read from the store at scrape time.',
    registers: [store],
    async collect() {
      const { rows } = await db.query<{ failed: number }>(
        'SELECT coalesce(sum(failed_attempts), 0)::int AS failed FROM webhook_deliveries',
      );
      this.set(rows[0]!.failed);
    },
  });
  stateGauge(store, db, {
    name: 'scaivault_webhook_deliveries',
    help:
      'Webhook deliveries by status (pending, retrying, delivered, failed: retries exhausted), ' +
      'read from the store at scrape time.',
    label: 'status',
    table: 'webhook_deliveries',
    states: ['pending', 'retrying', 'delivered', 'failed'],
  });
  return Registry.merge([processRegistry, store]);
}

/** A gauge of a table's rows by a state column, every state shown (0 when none), read at scrape time. */
function stateGauge(
  registry: Registry,
  db: Db,
  g: {
    name: string;
    help: string;
    label: 'state' | 'status';
    table: 'rotations' | 'webhook_deliveries';
    states: string[];
  },
) {
  new Gauge({
    name: g.name,
    help: g.help,
    labelNames: [g.label],
    registers: [registry],
    async collect() {
      const { rows } = await db.query<{ state: string; n: number }>(
        `SELECT s.state, count(t.${g.label})::int AS n FROM unnest($1::text[]) AS s(state)
           LEFT JOIN ${g.table} t ON t.${g.label} = s.state GROUP BY s.state`,
        [g.states],
      );
      for (const { state, n } of rows) this.set({ [g.label]: state }, n);
    },
  });
}
