import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../store/db';

/**
 * The product's Prometheus metrics. Two kinds:
 * - events, counted where they happen in this process (mint latency, renewals, revocations, expiries);
 * - lease counts by state, read from the store at scrape time, so they are right however many API and
 *   worker processes share the store, and survive restarts.
 * Labels carry engine and role names and outcomes only: never a username, lease id, token or secret.
 * Rotations by state and webhook deliveries are read from the store at scrape time too: they are
 * recorded by the worker, which serves no /metrics of its own.
 */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });

type LeaseLabels = { engine: string; role: string };

const mintDuration = new Histogram({
  name: 'scaivault_lease_mint_duration_seconds',
  help: 'Time to mint a lease: workflow start, database role creation and the answer (update-with-start), by outcome.',
  labelNames: ['engine', 'role', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [processRegistry],
});

const renewals = new Counter({
  name: 'scaivault_lease_renewals_total',
  help: 'Lease renewals the API sent to the lease workflow, by outcome (success, failure).',
  labelNames: ['engine', 'role', 'outcome'] as const,
  registers: [processRegistry],
});

const revocations = new Counter({
  name: 'scaivault_lease_revocations_total',
  help:
    'Revocations of unfinished leases requested through the API, by outcome: revoked (role gone), forced (ended by an operator; the role may remain), ' +
    'revocation_failed (the workflow keeps retrying), revoking (no worker answered in time; queued), expired (it ended first), error (could not be requested).',
  labelNames: ['engine', 'role', 'outcome'] as const,
  registers: [processRegistry],
});

const expirations = new Counter({
  name: 'scaivault_lease_expirations_total',
  help: 'Leases ended by their workflow at expiry with the role dropped; counted by the worker process that recorded it.',
  labelNames: ['engine', 'role'] as const,
  registers: [processRegistry],
});

/** The calls the product makes where lease events happen; one line at each point. */
export const leaseMetrics = {
  /** Starts timing a mint; call the result with the outcome. */
  startMint(lease: LeaseLabels): (outcome: 'success' | 'failure') => void {
    const end = mintDuration.startTimer({ engine: lease.engine, role: lease.role });
    return (outcome) => end({ outcome });
  },
  renewed: (lease: LeaseLabels, outcome: 'success' | 'failure') => renewals.inc({ engine: lease.engine, role: lease.role, outcome }),
  revoked: (lease: LeaseLabels, outcome: string) => revocations.inc({ engine: lease.engine, role: lease.role, outcome }),
  expired: (lease: LeaseLabels) => expirations.inc({ engine: lease.engine, role: lease.role }),
};

/** States of a lease that has not ended: `revocation_failed` counts the leases whose revocation keeps failing. */
const UNFINISHED_STATES = ['active', 'revoking', 'revocation_failed'];

/**
 * The registry `GET /metrics` serves: the process's own metrics plus lease counts read from `db` at each
 * scrape. Every configured role shows every unfinished state, at 0 when it has none, so a series never
 * vanishes when it drops to zero.
 */
export function metricsRegistry(db: Db): Registry {
  const store = new Registry();
  new Gauge({
    name: 'scaivault_leases',
    help: 'Leases not yet ended, by engine, role and state (active, revoking, revocation_failed), read from the store at scrape time.',
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
    help: 'Secret rotations by state (pending: awaiting confirmation; confirmed: in the grace period; completed, expired, failed), read from the store at scrape time.',
    label: 'state', table: 'rotations', states: ['pending', 'confirmed', 'completed', 'expired', 'failed'],
  });
  new Gauge({
    name: 'scaivault_webhook_delivery_failed_attempts',
    help: 'Webhook delivery attempts that failed (no answer, or a non-2xx answer), summed over the recorded deliveries, read from the store at scrape time.',
    registers: [store],
    async collect() {
      const { rows } = await db.query<{ failed: number }>('SELECT coalesce(sum(failed_attempts), 0)::int AS failed FROM webhook_deliveries');
      this.set(rows[0]!.failed);
    },
  });
  stateGauge(store, db, {
    name: 'scaivault_webhook_deliveries',
    help: 'Webhook deliveries by status (pending, retrying, delivered, failed: retries exhausted), read from the store at scrape time.',
    label: 'status', table: 'webhook_deliveries', states: ['pending', 'retrying', 'delivered', 'failed'],
  });
  return Registry.merge([processRegistry, store]);
}

/** A gauge of a table's rows by a state column, every state shown (0 when none), read at scrape time. */
function stateGauge(
  registry: Registry,
  db: Db,
  g: { name: string; help: string; label: 'state' | 'status'; table: 'rotations' | 'webhook_deliveries'; states: string[] },
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
