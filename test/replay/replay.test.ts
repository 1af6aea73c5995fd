import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { EncryptionCodec } from '../../lib/payload-codec';
import { dataConverter, FAILURE_CONVERTER_PATH } from '../../temporal/connection';
import { payloadKeyring } from '../../store';
import { REPLAY_TEST_MASTER_KEY } from './test-master-key';

/**
 * Histories recorded from real runs (scripts/record-histories.ts) replayed against the current workflow
 * code: a change that would break a running lease fails here, before it reaches a worker with live leases.
 */
const HISTORY_DIR = path.join(__dirname, 'histories');
const FILES = readdirSync(HISTORY_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const history = (file: string) => JSON.parse(readFileSync(path.join(HISTORY_DIR, file), 'utf8'));
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

const options = (
  workflowBundle: ReplayWorkerOptions['workflowBundle'],
  masterKey = REPLAY_TEST_MASTER_KEY,
): ReplayWorkerOptions => ({
  workflowBundle,
  dataConverter: dataConverter(payloadKeyring([masterKey])),
});
const currentBundle = () => ({ code: readFileSync(inject('workflowBundlePath'), 'utf8') });

/** Replays that fail on purpose log loudly; this file keeps the SDK's and Core's log lines to itself. */
Runtime.install({
  logger: new DefaultLogger('WARN', () => {}),
  telemetryOptions: { logging: { forward: {} } },
});

/** The id the workflow ran under: a lease's is its lease id, which its (sealed) input names and checks. */
async function recordedWorkflowId(file: string): Promise<string> {
  const input = history(file).events[0].workflowExecutionStartedEventAttributes.input?.payloads?.[0];
  if (!file.startsWith('lease-') || !input) return file;
  const sealed = {
    metadata: Object.fromEntries(
      Object.entries(input.metadata as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(input.data, 'base64'),
  };
  const [opened] = await new EncryptionCodec(payloadKeyring([REPLAY_TEST_MASTER_KEY])).decode([sealed]);
  return (JSON.parse(Buffer.from(opened!.data!).toString()) as { spec: { leaseId: string } }).spec.leaseId;
}

async function replayAll(replayOptions: ReplayWorkerOptions) {
  const ids = new Map(await Promise.all(FILES.map(async (file) => [await recordedWorkflowId(file), file] as const)));
  const results: { file: string; error?: string }[] = [];
  const histories = [...ids].map(([workflowId, file]) => ({ workflowId, history: history(file) }));
  for await (const result of Worker.runReplayHistories(replayOptions, histories)) {
    results.push({
      file: ids.get(result.workflowId)!,
      ...(result.error ? { error: `${result.error.name}: ${result.error.message}` } : {}),
    });
  }
  return results.sort((a, b) => (a.file < b.file ? -1 : 1));
}

describe('recorded workflow histories', () => {
  it('cover every workflow path, sealed as the product seals payloads', () => {
    expect(FILES).toEqual([
      'lease-issue-expire-local-issue.json',
      'lease-issue-expire-local-revoke.json',
      'lease-issue-expire-v2-state.json',
      'lease-issue-expire-v2.json',
      'lease-issue-expire.json',
      'lease-issue-failure-local-issue.json',
      'lease-issue-failure-local-revoke.json',
      'lease-issue-failure-v2-state.json',
      'lease-issue-failure-v2.json',
      'lease-issue-failure.json',
      'lease-issue-renew-revoke-local-issue.json',
      'lease-issue-renew-revoke-local-revoke.json',
      'lease-issue-renew-revoke-v2-state.json',
      'lease-issue-renew-revoke-v2.json',
      'lease-issue-renew-revoke.json',
      'lease-revocation-failed-then-forced-local-issue.json',
      'lease-revocation-failed-then-forced-local-revoke.json',
      'lease-revocation-failed-then-forced-v2-state.json',
      'lease-revocation-failed-then-forced-v2.json',
      'lease-revocation-failed-then-forced.json',
      'lease-revocation-failed-then-mended-local-issue.json',
      'lease-revocation-failed-then-mended-local-revoke.json',
      'lease-revocation-failed-then-mended-v2-state.json',
      'lease-revocation-failed-then-mended-v2.json',
      'lease-revocation-failed-then-mended.json',
      'reconcile-v2-state.json',
      'reconcile.json',
    ]);
    for (const file of FILES.filter((f) => f.startsWith('lease-'))) {
      const started = history(file).events[0].workflowExecutionStartedEventAttributes;
      expect(started.workflowType.name).toBe(/-v2(-state)?\.json$/.test(file) ? 'leaseWorkflowV2' : 'leaseWorkflow');
      expect(Buffer.from(started.input.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    }
  });

  it('replay against the current workflow code without a determinism error', async () => {
    expect(await replayAll(options(currentBundle()))).toEqual(FILES.map((file) => ({ file })));
  });

  it('do not replay with another master key: the payloads do not open', async () => {
    const results = await replayAll(options(currentBundle(), randomBytes(32)));
    expect(results.map((r) => r.error?.split(':')[0])).toEqual(FILES.map(() => 'ReplayError'));
  });

  it('fail replay against a workflow changed in a way that would break running leases', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'changed-workflows.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: quiet,
    });
    await expect(
      Worker.runReplayHistory(
        options(changed),
        history('lease-issue-renew-revoke.json'),
        await recordedWorkflowId('lease-issue-renew-revoke.json'),
      ),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
