import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../api/server';
import { mintToken } from '../support/auth';
import { apiCaller, type Call } from '../support/http';
import { startStack, type Stack } from '../support/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(ms, 0)));

let stack: Stack;
let other: Awaited<ReturnType<typeof buildServer>>;
let callOther: Call;

/** Two API instances on one store, as a deployment with replicas runs them; each remembers live tokens for 1 s. */
beforeAll(async () => {
  stack = await startStack({ worker: false });
  other = await buildServer({
    stores: stack.stores,
    temporal: stack.temporal,
    taskQueue: stack.taskQueue,
    masterKeys: stack.masterKeys,
    logLevel: 'silent',
  });
  callOther = apiCaller(await other.listen({ host: '127.0.0.1', port: 0 }), stack.rootToken);
});
afterAll(async () => {
  await other?.close();
  await stack?.stop();
});

describe('a token revoked on one API instance', () => {
  it('is refused there at once, and by every other instance once its 1 s window has passed', async () => {
    const token = await mintToken(stack, 'svc:replicated', ['secrets:read']);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(200);
    const seenByOther = Date.now();
    expect((await callOther('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(200);

    expect((await stack.call('DELETE', `/v1/auth/tokens/${token.token_id}`)).status).toBe(204);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(401);

    await sleep(seenByOther + 1000 + 50 - Date.now());
    expect((await callOther('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(401);
  });

  it("takes its identity's deletion at once on the instance that deleted it", async () => {
    const token = await mintToken(stack, 'svc:leaving', ['secrets:read']);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(200);
    expect((await stack.call('DELETE', '/v1/auth/identities/svc:leaving')).status).toBe(204);
    expect((await stack.call('GET', '/v1/auth/whoami', undefined, token.token)).status).toBe(401);
  });
});
