import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration';
import { parseReceiverAllowList } from './receiver-address';

const DEFAULT_DATA_DIR = '.data';

/** How a worker is sized; the defaults are what `npm run bench` measured best on 2 cores (bench/README.md). */
export interface WorkerTuning {
  /** Lease workflows kept in memory; the worker's memory is bounded by this, not by the number of live leases. */
  cachedWorkflows: number;
  workflowThreads: number;
  workflowTaskSlots: number;
  localActivitySlots: number;
  /**
   * How long a workflow task waits on this worker's sticky queue before the server hands it to any worker.
   * 120 s drained an expiry storm in 0.68x the time (no task timed out and replayed elsewhere), but then a
   * SIGKILLed worker's leases wait that long before another worker ends them: 10 s (the SDK's) is shipped.
   */
  stickyTimeoutSeconds: number;
  /** One V8 context shared by every workflow of a thread (the SDK's default), or a context per workflow. */
  reuseV8Context: boolean;
  /**
   * Workflow-task polls held open at once (the SDK's 10), of which `nonStickyPollRatio` poll the shared
   * queue (the SDK's 0.2): an expiry storm whose tasks outwait the sticky queue lands on the shared one.
   * `autoscaling` lets the SDK grow and shrink the polls with the server's backlog, up to `workflowPollers`.
   */
  workflowPollers: number;
  nonStickyPollRatio: number;
  pollerAutoscaling: boolean;
}
export const DEFAULT_WORKER_TUNING: WorkerTuning = {
  cachedWorkflows: 1000,
  workflowThreads: 1,
  workflowTaskSlots: 100,
  localActivitySlots: 100,
  stickyTimeoutSeconds: 10,
  reuseV8Context: true,
  workflowPollers: 10,
  nonStickyPollRatio: 0.2,
  pollerAutoscaling: false,
};
const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  SCAIVAULT_HOST: z.string().default('127.0.0.1'),
  SCAIVAULT_PORT: int(8200),
  SCAIVAULT_DATA_DIR: z.string().default(DEFAULT_DATA_DIR),
  DATABASE_URL: z.string().optional(),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_PORT: int(7233),
  TEMPORAL_UI_PORT: int(8233),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('scaivault'),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  SCAIVAULT_TLS_CERT: z.string().optional(),
  SCAIVAULT_TLS_KEY: z.string().optional(),
  SCAIVAULT_DEV_ROOT_TOKEN: z.string().min(16).optional(),
  SCAIVAULT_MASTER_KEY: z.string().optional(),
  SCAIVAULT_LOG_LEVEL: z.string().default('info'),
  SCAIVAULT_PUBLIC_URL: z.string().url().optional(),
  SCAIVAULT_TRUST_PROXY: z.string().optional(),
  SCAIVAULT_WEBHOOK_ALLOW_PRIVATE: z.string().optional(),
  SCAIVAULT_TOKEN_CACHE_MS: z.coerce.number().int().min(0).default(1000),
  SCAIVAULT_AUDIT_CHECKPOINT_INTERVAL: z
    .string()
    .default('60s')
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined || seconds < 1)
        ctx.addIssue({ code: 'custom', message: 'must be a duration of at least 1s, such as "60s" or "5m"' });
      return (seconds ?? 0) * 1000;
    }),
  SCAIVAULT_WORKER_CACHED_WORKFLOWS: int(DEFAULT_WORKER_TUNING.cachedWorkflows),
  SCAIVAULT_WORKER_WORKFLOW_THREADS: int(DEFAULT_WORKER_TUNING.workflowThreads),
  SCAIVAULT_WORKER_WORKFLOW_TASK_SLOTS: int(DEFAULT_WORKER_TUNING.workflowTaskSlots),
  SCAIVAULT_WORKER_LOCAL_ACTIVITY_SLOTS: int(DEFAULT_WORKER_TUNING.localActivitySlots),
  SCAIVAULT_WORKER_STICKY_TIMEOUT: int(DEFAULT_WORKER_TUNING.stickyTimeoutSeconds),
  SCAIVAULT_WORKER_REUSE_V8_CONTEXT: z.enum(['true', 'false']).default('true'),
  SCAIVAULT_WORKER_WORKFLOW_POLLERS: int(DEFAULT_WORKER_TUNING.workflowPollers),
  SCAIVAULT_WORKER_NON_STICKY_POLL_RATIO: z.coerce
    .number()
    .gt(0)
    .max(1)
    .default(DEFAULT_WORKER_TUNING.nonStickyPollRatio),
  SCAIVAULT_WORKER_POLLER_AUTOSCALING: z.enum(['true', 'false']).default('false'),
  // Read by worker/workflow-thread-setup.mjs in each workflow thread; checked here so a typo is refused.
  SCAIVAULT_WORKFLOW_STACK_TRACES: z.enum(['true', 'false']).optional(),
});

/** Where the Temporal connection's TLS material lives; read by temporal/connection.ts when connecting. */
export interface TemporalTransportConfig {
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  apiKey?: string;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/scaivault';

/**
 * The store database when DATABASE_URL is unset: `scaivault` for the default data dir; for another data
 * dir, a name derived from it, so two instances started side by side never share (and fight over) a store.
 */
function defaultDatabaseUrl(dataDir: string): string {
  if (dataDir === path.resolve(DEFAULT_DATA_DIR)) return DEFAULT_DATABASE_URL;
  const suffix = createHash('sha256').update(dataDir).digest('hex').slice(0, 10);
  return `${DEFAULT_DATABASE_URL}_${suffix}`;
}

export type Config = ReturnType<typeof loadConfig>;

export type TrustProxy = boolean | string | ((address: string, hop: number) => boolean);

function trustProxy(value: string | undefined): TrustProxy {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return (_address, hop) => hop < hops;
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  // An empty variable means unset, as shells and compose files often leave them.
  const e = envSchema.parse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  const dataDir = path.resolve(e.SCAIVAULT_DATA_DIR);
  if (!e.SCAIVAULT_TLS_CERT !== !e.SCAIVAULT_TLS_KEY)
    throw new Error('SCAIVAULT_TLS_CERT and SCAIVAULT_TLS_KEY go together: set both (HTTPS) or neither (HTTP)');
  if (!e.TEMPORAL_TLS_CERT !== !e.TEMPORAL_TLS_KEY)
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (mTLS) or neither');
  return {
    host: e.SCAIVAULT_HOST,
    port: e.SCAIVAULT_PORT,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? defaultDatabaseUrl(dataDir),
    temporal: {
      address: e.TEMPORAL_ADDRESS ?? `127.0.0.1:${e.TEMPORAL_PORT}`,
      external: e.TEMPORAL_ADDRESS !== undefined,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      /**
       * How the API and the worker reach Temporal: TLS (a CA, a server name, and for mTLS a client
       * certificate and key, as PEM files) and/or an API key (Temporal Cloud); plaintext when none is set.
       */
      transport: {
        tls:
          e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_KEY || e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_SERVER_NAME
            ? {
                certFile: e.TEMPORAL_TLS_CERT,
                keyFile: e.TEMPORAL_TLS_KEY,
                caFile: e.TEMPORAL_TLS_CA,
                serverName: e.TEMPORAL_TLS_SERVER_NAME,
              }
            : undefined,
        apiKey: e.TEMPORAL_API_KEY,
      } satisfies TemporalTransportConfig,
    },
    /** The API serves HTTPS with this certificate and key (PEM files), HTTP when unset. */
    tls:
      e.SCAIVAULT_TLS_CERT || e.SCAIVAULT_TLS_KEY
        ? { certFile: e.SCAIVAULT_TLS_CERT ?? '', keyFile: e.SCAIVAULT_TLS_KEY ?? '' }
        : undefined,
    devRootToken: e.SCAIVAULT_DEV_ROOT_TOKEN,
    /**
     * Which proxies' X-Forwarded-For the API believes for a caller's address (the failed-authentication limit
     * and audit entries key on it): unset or `false`, none; `true`, any; a number, that many hops; otherwise
     * a comma-separated list of addresses or CIDRs, as fastify's `trustProxy`.
     */
    trustProxy: trustProxy(e.SCAIVAULT_TRUST_PROXY),
    /** Webhook receivers the worker may reach beyond public addresses: `true` (any) or CIDRs; none when unset. */
    webhookAllowPrivate: parseReceiverAllowList(e.SCAIVAULT_WEBHOOK_ALLOW_PRIVATE),
    /** How long the API trusts a token it found live before asking the store again (ms; 0: every request). */
    tokenCacheMs: e.SCAIVAULT_TOKEN_CACHE_MS,
    /** How often the API checkpoints the audit chain's head into Temporal (ms); it also does at shutdown. */
    auditCheckpointMs: e.SCAIVAULT_AUDIT_CHECKPOINT_INTERVAL,
    masterKey: e.SCAIVAULT_MASTER_KEY,
    logLevel: e.SCAIVAULT_LOG_LEVEL,
    worker: {
      cachedWorkflows: e.SCAIVAULT_WORKER_CACHED_WORKFLOWS,
      workflowThreads: e.SCAIVAULT_WORKER_WORKFLOW_THREADS,
      workflowTaskSlots: e.SCAIVAULT_WORKER_WORKFLOW_TASK_SLOTS,
      localActivitySlots: e.SCAIVAULT_WORKER_LOCAL_ACTIVITY_SLOTS,
      stickyTimeoutSeconds: e.SCAIVAULT_WORKER_STICKY_TIMEOUT,
      reuseV8Context: e.SCAIVAULT_WORKER_REUSE_V8_CONTEXT === 'true',
      workflowPollers: e.SCAIVAULT_WORKER_WORKFLOW_POLLERS,
      nonStickyPollRatio: e.SCAIVAULT_WORKER_NON_STICKY_POLL_RATIO,
      pollerAutoscaling: e.SCAIVAULT_WORKER_POLLER_AUTOSCALING === 'true',
    } satisfies WorkerTuning,
    /**
     * Where receivers reach the API (a webhook's confirm_url); the worker builds URLs with it, so give both
     * the same env.
     */
    publicUrl: (e.SCAIVAULT_PUBLIC_URL ?? `http://${e.SCAIVAULT_HOST}:${e.SCAIVAULT_PORT}`).replace(/\/+$/, ''),
  };
}
