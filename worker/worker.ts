import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import path from 'node:path';
import { createLeaseActivities } from '../activities/lease';
import { createReconcileActivities } from '../activities/reconcile';
import { createRotationActivities } from '../activities/rotation';
import { createRootRotationActivities } from '../activities/root-rotation';
import { TargetPools } from '../engine/target-pools';
import { DEFAULT_WORKER_TUNING, loadConfig, type TemporalTransportConfig, type WorkerTuning } from '../lib/config';
import type { ReceiverAllowList } from '../lib/receiver-address';
import { dataConverter, temporalTransport } from '../temporal/connection';
import { leasePasswordSeal, payloadKeyring, type Stores } from '../store';
import { storeId } from '../store/bootstrap';

export interface WorkerSetup {
  stores: Stores;
  masterKeys: Buffer[];
  address: string;
  namespace: string;
  taskQueue: string;
  /** TLS and API key for the Temporal connection; plaintext when unset. */
  transport?: TemporalTransportConfig;
  /** A prebuilt bundle (tests share one); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** The API's public base URL for webhook confirm URLs; SCAIVAULT_PUBLIC_URL (or its default) when unset. */
  publicUrl?: string;
  /** Webhook receivers at non-public addresses it may reach; SCAIVAULT_WEBHOOK_ALLOW_PRIVATE when unset. */
  webhookAllowPrivate?: ReceiverAllowList;
  tuning?: WorkerTuning;
}

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.ts');

/**
 * How every bundle of the workflows is built (the worker's own, the tests', the bench's). The workflow
 * modules keep no state at module scope (their proxies, message definitions and constants are the same
 * for every lease), so the reused V8 context evaluates them once per workflow thread and shares them,
 * frozen, instead of evaluating them again for every workflow it creates: replayed leases took 0.92x the
 * CPU (bench/README.md). State a workflow keeps belongs inside its function, never at module scope.
 */
export const WORKFLOW_BUNDLER_OPTIONS = { preloadModules: [WORKFLOWS_PATH] };

/**
 * The SDK's own log level (bundling, polling), and, when SCAIVAULT_TEMPORAL_METRICS_ADDR is set (e.g.
 * `127.0.0.1:9464`), Temporal's worker metrics (task latencies, slots, pollers, sticky cache) served for
 * Prometheus at `http://<addr>/metrics`. Installed once per process, before the first worker.
 */
let runtimeInstalled = false;

export function installRuntime(level: LogLevel = 'WARN', metricsAddress = process.env.SCAIVAULT_TEMPORAL_METRICS_ADDR) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger(level),
      ...(metricsAddress
        ? {
            telemetryOptions: {
              metrics: {
                prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true, useSecondsForDurations: true },
              },
            },
          }
        : {}),
    });
  } catch (error) {
    // A worker or connection made earlier in this process installed the SDK's default runtime: keep it.
    if (!/already/i.test((error as Error).message)) throw error;
  }
}

const REFUSAL_AUDIT_WINDOW_MS = 60_000;

/**
 * Each refusal of unsealed input is audited; Temporal retries a failed workflow task, so refusals are
 * counted and written at most once a minute per worker.
 */
function auditRefusals(stores: Pick<Stores, 'audit'>) {
  let pending = 0;
  let window: NodeJS.Timeout | undefined;
  const flush = () => {
    const refused = pending;
    pending = 0;
    void stores.audit
      .append({
        identity_id: 'system:worker',
        action: 'temporal_input_refused',
        path: 'temporal',
        result: 'failure',
        extra_data: {
          refused_payloads: refused,
          reason: 'a payload the product did not seal; no workflow code or activity ran on it',
        },
      })
      .catch(() => {});
  };
  const closeWindow = () => {
    window = undefined;
    if (pending) openWindow();
  };
  const openWindow = () => {
    flush();
    window = setTimeout(closeWindow, REFUSAL_AUDIT_WINDOW_MS).unref();
  };
  return () => {
    pending++;
    if (!window) openWindow();
  };
}

/** A worker running the lease workflows and their activities, with the product's encrypting converter. */
export async function createWorker(setup: WorkerSetup) {
  const { stores, tuning = DEFAULT_WORKER_TUNING } = setup;
  installRuntime();
  const targets = new TargetPools({ engines: stores.engines, secrets: stores.secrets });
  const id = await storeId(stores);
  const connection = await NativeConnection.connect({ address: setup.address, ...temporalTransport(setup.transport) });
  const worker = await Worker.create({
    connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    ...(setup.workflowBundle
      ? { workflowBundle: setup.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: WORKFLOW_BUNDLER_OPTIONS }),
    activities: {
      ...createLeaseActivities({ targets, stores, storeId: id, passwords: leasePasswordSeal(setup.masterKeys) }),
      ...createReconcileActivities({ targets, stores, storeId: id }),
      ...createRootRotationActivities({ stores, targets }),
      ...createRotationActivities({
        stores,
        publicUrl: setup.publicUrl ?? loadConfig().publicUrl,
        receiverAllow: setup.webhookAllowPrivate ?? loadConfig().webhookAllowPrivate,
      }),
    },
    dataConverter: dataConverter(payloadKeyring(setup.masterKeys), { onRefused: auditRefusals(stores) }),
    maxCachedWorkflows: tuning.cachedWorkflows,
    workflowThreadPoolSize: tuning.workflowThreads,
    reuseV8Context: tuning.reuseV8Context,
    maxConcurrentWorkflowTaskExecutions: Math.min(tuning.workflowTaskSlots, tuning.cachedWorkflows),
    maxConcurrentLocalActivityExecutions: tuning.localActivitySlots,
    stickyQueueScheduleToStartTimeout: tuning.stickyTimeoutSeconds * 1000,
    nonStickyToStickyPollRatio: tuning.nonStickyPollRatio,
    workflowTaskPollerBehavior: tuning.pollerAutoscaling
      ? { type: 'autoscaling', maximum: tuning.workflowPollers, initial: Math.min(5, tuning.workflowPollers) }
      : { type: 'simple-maximum', maximum: tuning.workflowPollers },
    shutdownGraceTime: '20s',
  });
  return {
    worker,
    async close() {
      await targets.close();
      await connection.close();
    },
  };
}
