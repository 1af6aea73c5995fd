import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

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
    'Revocations of unfinished leases requested through the API, by outcome: revoked (role gone), ' +
    'forced (ended by an operator; the role may remain), revocation_failed (the workflow keeps retrying), ' +
    'revoking (no worker answered in time; queued), expired (it ended first), error (could not be requested).',
  labelNames: ['engine', 'role', 'outcome'] as const,
  registers: [processRegistry],
});

const expirations = new Counter({
  name: 'scaivault_lease_expirations_total',
  help:
    'Leases ended by their workflow at expiry with the role dropped; ' +
    'counted by the worker process that recorded it.',
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
  renewed: (lease: LeaseLabels, outcome: 'success' | 'failure') =>
    renewals.inc({ engine: lease.engine, role: lease.role, outcome }),
  revoked: (lease: LeaseLabels, outcome: string) =>
    revocations.inc({ engine: lease.engine, role: lease.role, outcome }),
  expired: (lease: LeaseLabels) => expirations.inc({ engine: lease.engine, role: lease.role }),
};
