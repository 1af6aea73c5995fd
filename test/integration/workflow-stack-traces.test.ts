import { afterAll, describe, expect, it } from 'vitest';
import { configureGuideEngine, withGuideStack } from '../support/guide';
import { startStack, type Stack } from '../support/stack';
import type { TargetDatabase } from '../support/postgres';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
const others: Stack[] = [];

withGuideStack({}, (c) => ({ stack, target, engine } = c));
afterAll(async () => {
  for (const other of others) await other.stop();
});

const mintAndAskForStack = async (on: Stack, engineName: string) => {
  const minted = await on.call('POST', `/v1/dynamic/engines/${engineName}/creds/readonly`, {});
  expect(minted.status, JSON.stringify(minted.body)).toBe(200);
  const handle = on.temporal.workflow.getHandle(minted.body.lease_id);
  const stackTrace = handle.query<string>('__stack_trace').then(
    (trace) => ({ trace }),
    (error: Error) => ({ error: error.message }),
  );
  const answer = await stackTrace;
  expect((await on.call('DELETE', `/v1/dynamic/leases/${minted.body.lease_id}`)).status).toBe(204);
  return answer;
};

describe("workflow threads' stack traces", () => {
  // The query's failure comes back sealed by the product's failure converter; the test below shows the
  // same query answered once stack traces are on, so here it fails for the setting's sake.
  it('are off as shipped: the lease still works, and the stack trace query is refused', async () => {
    expect(await mintAndAskForStack(stack, engine)).toEqual({ error: expect.any(String) });
  });

  it('are kept for a worker started with SCAIVAULT_WORKFLOW_STACK_TRACES=true', async () => {
    process.env.SCAIVAULT_WORKFLOW_STACK_TRACES = 'true';
    let debugging: Stack;
    try {
      debugging = await startStack();
    } finally {
      delete process.env.SCAIVAULT_WORKFLOW_STACK_TRACES;
    }
    others.push(debugging);
    const { engine: debugEngine } = await configureGuideEngine(debugging, target);
    const answer = await mintAndAskForStack(debugging, debugEngine);
    expect(answer).toEqual({ trace: expect.stringContaining('lease') });
  });
});
