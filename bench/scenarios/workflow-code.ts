import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EncryptionCodec } from '../../lib/payload-codec';
import { dataConverter, FAILURE_CONVERTER_PATH } from '../../temporal/connection';
import { payloadKeyring } from '../../store';
import { REPLAY_TEST_MASTER_KEY } from '../../test/replay/test-master-key';
import { installRuntime } from '../../worker/worker';
import { threadCpuMs } from '../lib/cpu';
import { x, type ScenarioContext } from './common';

const ROOT = path.resolve(__dirname, '..', '..');
const HISTORIES = ['lease-issue-renew-revoke-v2.json', 'lease-issue-expire-v2.json'];
const ROUNDS = 6;
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

async function recorded(file: string) {
  const history = JSON.parse(readFileSync(path.join(ROOT, 'test', 'replay', 'histories', file), 'utf8'));
  const input = history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0];
  const sealed = {
    metadata: Object.fromEntries(
      Object.entries(input.metadata as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(input.data, 'base64'),
  };
  const [opened] = await new EncryptionCodec(payloadKeyring([REPLAY_TEST_MASTER_KEY])).decode([sealed]);
  return {
    history,
    workflowId: (JSON.parse(Buffer.from(opened!.data!).toString()) as { spec: { leaseId: string } }).spec.leaseId,
  };
}

/**
 * The workflow code's own CPU, without a server or a database: the recorded v2 lease histories (a lease
 * issued, renewed and revoked; a lease that expired) replayed `count` times each through a replay worker,
 * CPU ms per lease of this process's threads. It isolates the cost of the workflow thread (and the core's
 * handling of each activation), which a live run mixes with everything else; with `--against=<rev>` that
 * revision's workflow code is the baseline, in alternating rounds.
 */
export async function workflowCodeScenario(
  ctx: ScenarioContext,
  count: number,
  baseline?: { root: string; label: string },
): Promise<void> {
  installRuntime();
  const histories = await Promise.all(HISTORIES.map(recorded));
  // Each revision's workflows bundled as its own worker bundles them (revisions before the options: none).
  const bundle = async (root: string) =>
    bundleWorkflowCode({
      workflowsPath: path.join(root, 'workflows', 'index.ts'),
      ...((await import(path.join(root, 'worker', 'worker.ts'))) as { WORKFLOW_BUNDLER_OPTIONS?: object })
        .WORKFLOW_BUNDLER_OPTIONS,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: quiet,
    });
  const arms = [{ label: 'working tree', bundle: await bundle(ROOT), cpu: [] as number[] }];
  if (baseline) arms.push({ label: baseline.label, bundle: await bundle(baseline.root), cpu: [] });
  const replay = async (workflowBundle: Awaited<ReturnType<typeof bundle>>) => {
    const all = Array.from({ length: count }, () => histories).flat();
    const before = threadCpuMs(process.pid);
    for await (const result of Worker.runReplayHistories(
      { workflowBundle, dataConverter: dataConverter(payloadKeyring([REPLAY_TEST_MASTER_KEY])) },
      all,
    )) {
      if (result.error) throw result.error;
    }
    const after = threadCpuMs(process.pid);
    return Object.keys(after).reduce((sum, name) => sum + after[name]! - (before[name] ?? 0), 0) / all.length;
  };
  for (const arm of arms) await replay(arm.bundle); // warm up: JIT, the replay worker's first start
  for (let round = 0; round < ROUNDS; round++) for (const arm of arms) arm.cpu.push(await replay(arm.bundle));
  // The median of alternating rounds: this machine's CPU time per unit of work drifts by 10-20% from minute to minute.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const [candidate, base] = arms;
  const line =
    `workflow code`.padEnd(20) +
    ` replayed leases (issue+renew+revoke, issue+expire): ${median(candidate!.cpu).toFixed(2)} CPU ms/lease` +
    (base
      ? ` | baseline ${base.label}: ${median(base.cpu).toFixed(2)} CPU ms/lease` +
        ` | ${x(median(candidate!.cpu) / median(base.cpu))}`
      : '');
  ctx.log(line);
  ctx.report({ name: 'workflow code', line, data: { candidate: candidate!.cpu, baseline: base?.cpu, count } });
}
