import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import type { Answer } from '../support/http';
import { type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
let rootPath: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine, rootPath } = c));

/** The contract's error shape, and nothing that looks like a stack trace. */
function expectError(response: Answer, status: number, code: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toEqual({
    error: expect.objectContaining({ code, message: expect.any(String), request_id: expect.stringMatching(/^req_/) }),
  });
  expect(JSON.stringify(response.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

/** Sends the path exactly as written: fetch would resolve "..", as browsers do, but other clients need not. */
function rawRequest(method: string, path: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(stack.baseUrl);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { authorization: `Bearer ${stack.rootToken}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const leaseCount = async () => Number((await stack.stores.db.query('SELECT count(*) FROM leases')).rows[0].count);

describe('bad input gets a clear 4xx in the contract shape', () => {
  it('refuses a missing or wrong token with 401', async () => {
    expectError(await stack.call('GET', '/v1/dynamic/leases', undefined, ''), 401, 'unauthorized');
    expectError(await stack.call('GET', '/v1/dynamic/leases', undefined, 'svt_not-a-real-token'), 401, 'unauthorized');
  });

  it('answers 404 for an unknown engine, role, lease or route', async () => {
    expectError(await stack.call('POST', '/v1/dynamic/engines/no-such-engine/creds/readonly', {}), 404, 'not_found');
    expectError(await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/no-such-role`, {}), 404, 'not_found');
    expectError(await stack.call('GET', '/v1/dynamic/leases/lease_AAAAAAAAAAAAAAAAAAAAAAAA'), 404, 'not_found');
    expectError(
      await stack.call('POST', '/v1/dynamic/leases/lease_AAAAAAAAAAAAAAAAAAAAAAAA/renew', {}),
      404,
      'not_found',
    );
    expectError(await stack.call('DELETE', '/v1/dynamic/leases/lease_AAAAAAAAAAAAAAAAAAAAAAAA'), 404, 'not_found');
    expectError(await stack.call('GET', '/v1/nothing/here'), 404, 'not_found');
  });

  it('refuses malformed durations, ids, paths and bodies with 400 and issues nothing', async () => {
    const before = await leaseCount();
    for (const ttl of ['5 parsecs', '-5s', -5, 1.5, '1h-30m', '99999999999d', {}, null]) {
      expectError(
        await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl }),
        400,
        'invalid_request',
      );
    }
    expectError(
      await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { ttl: 0 }),
      400,
      'invalid_request',
    );
    expectError(
      await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { metadata: { deep: { x: 1 } } }),
      400,
      'invalid_request',
    );
    expectError(
      await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, '{"ttl": '),
      400,
      'invalid_request',
    );
    expectError(await stack.call('GET', '/v1/dynamic/leases/not-a-lease'), 400, 'invalid_request');
    expectError(await stack.call('GET', '/v1/dynamic/leases?state=sleeping'), 400, 'invalid_request');
    for (const traversal of ['/v1/secrets/infra/../root', '/v1/secrets/infra/%2e%2e/root', '/v1/secrets/infra//root']) {
      expectError(await rawRequest('PUT', traversal, JSON.stringify({ data: { a: 1 } })), 400, 'invalid_request');
    }
    expect(await leaseCount()).toBe(before);
  });

  it(
    'refuses an engine with missing fields, a bad URL or wrong credentials, ' +
      'saving nothing and showing no password',
    async () => {
      const base = { name: 'e-bad', type: 'database', default_ttl: '1h', max_ttl: '8h' };
      const config = { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath };
      expectError(await stack.call('POST', '/v1/dynamic/engines', { ...base }), 400, 'invalid_request');
      expectError(
        await stack.call('POST', '/v1/dynamic/engines', { ...base, config: { ...config, plugin: 'mysql' } }),
        400,
        'invalid_request',
      );
      expectError(
        await stack.call('POST', '/v1/dynamic/engines', { ...base, config, default_ttl: '9h' }),
        400,
        'invalid_config',
      );
      const literal = await stack.call('POST', '/v1/dynamic/engines', {
        ...base,
        config: { ...config, connection_url: 'postgresql://x:hunter2@127.0.0.1:5432/db' },
      });
      expectError(literal, 400, 'invalid_config');
      expect(JSON.stringify(literal.body)).not.toContain('hunter2');

      // This machine's Postgres trusts loopback logins, so a wrong password passes; a missing user does not.
      await stack.call('PUT', '/v1/secrets/infra/wrong-root', {
        data: { username: 'no_such_admin', password: 'not-the-password-xyz' },
        secret_type: 'json',
      });
      const wrong = await stack.call('POST', '/v1/dynamic/engines', {
        ...base,
        config: { ...config, root_credentials_path: 'infra/wrong-root' },
      });
      expectError(wrong, 400, 'invalid_config');
      expect(wrong.body.error.message).toMatch(/role "no_such_admin" does not exist/);
      expect(JSON.stringify(wrong.body)).not.toContain('not-the-password-xyz');
      expectError(await stack.call('GET', '/v1/dynamic/engines/e-bad'), 404, 'not_found');
    },
  );

  it('limits the body size with 413', async () => {
    const huge = { data: { blob: 'x'.repeat(2 * 1024 * 1024) } };
    expectError(await stack.call('PUT', '/v1/secrets/too/big', huge), 413, 'payload_too_large');
  });
});

describe('secrets at rest', () => {
  it('stores only ciphertext', async () => {
    await stack.call('PUT', '/v1/secrets/app/plain-check', {
      data: { password: 'very-recognisable-secret-value' },
      secret_type: 'json',
    });
    const { rows } = await stack.stores.db.query<{ dump: string }>(
      `SELECT string_agg(ciphertext::text || encode(ciphertext, 'escape'), '') AS dump FROM secrets`,
    );
    expect(rows[0]!.dump).not.toContain('very-recognisable-secret-value');
    expect((await stack.call('GET', '/v1/secrets/app/plain-check')).body.data.password).toBe(
      'very-recognisable-secret-value',
    );
  });
});
