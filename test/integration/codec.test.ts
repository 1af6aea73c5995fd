import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Script } from 'node:vm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODEC_SESSION_COOKIE } from '../../api/codec-session';
import { ensureTemporalCli } from '../../scripts/temporal-cli';
import { buildServer } from '../../api/server';
import { SCOPES } from '../../lib/access';
import { loggerOptions } from '../../lib/logger';
import { EncryptionCodec } from '../../lib/payload-codec';
import { payloadKeyring } from '../../store';
import { mintToken } from '../support/auth';
import { freePort } from '../support/global-setup';
import { withGuideStack } from '../support/guide';
import { exited, runEntry } from '../support/processes';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

const execFileAsync = promisify(execFile);
const UI_ORIGIN = 'http://127.0.0.1:18233';
/** Lease metadata: in Temporal only inside sealed payloads (the input and the memo). */
const TICKET = 'OPS-CODEC-7731';

let stack: Stack;
let engine: string;
let app: FastifyInstance;
let lease: { lease_id: string; data: { username: string; password: string } };
/** The lease workflow's input and the issue update's result, as Temporal stores them (sealed). */
let stored: { input: Payload; issued: Payload };

withGuideStack({ withGrantOption: true }, (c) => ({ stack, engine } = c));
beforeAll(async () => {
  // The product's server, with a Web UI origin allowed, driven in-process.
  app = await buildServer({
    stores: stack.stores,
    temporal: stack.temporal,
    taskQueue: stack.taskQueue,
    masterKeys: stack.masterKeys,
    codecUiOrigins: [UI_ORIGIN],
    logLevel: 'silent',
    authFailureLimit: { max: 10_000, windowMs: 60_000 },
  });
  await app.ready();
  lease = (await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { metadata: { ticket: TICKET } }))
    .body;
  const history = await new Client({ connection: stack.temporal.connection }).workflow
    .getHandle(lease.lease_id)
    .fetchHistory();
  const events = history.events ?? [];
  stored = {
    input: events.find((e) => e.workflowExecutionStartedEventAttributes)!.workflowExecutionStartedEventAttributes!
      .input!.payloads![0]!,
    issued: events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes)!
      .workflowExecutionUpdateCompletedEventAttributes!.outcome!.success!.payloads![0]!,
  };
});

afterAll(() => app?.close());

/** A payload as the codec-server protocol carries it: proto3 JSON, bytes in base64. */
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
type JsonPayload = ReturnType<typeof toJson>;

function codecCall(op: 'decode' | 'encode', payloads: JsonPayload[], headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: `/v1/sys/codec/${op}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: { payloads },
  });
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const cookieOf = (setCookie: string | string[] | undefined) =>
  [setCookie].flat().find((c) => c?.startsWith(`${CODEC_SESSION_COOKIE}=`));

describe('the codec endpoint', () => {
  it(
    'decodes what Temporal stores for an admin, and audits it; ' +
      'the issued password stays sealed with a key the codec does not hold',
    async () => {
      const response = await codecCall('decode', [toJson(stored.input), toJson(stored.issued)], {
        ...bearer(stack.rootToken),
        'x-namespace': 'default',
      });
      expect(response.statusCode, response.body).toBe(200);
      const [input, issued] = response.json().payloads as JsonPayload[];
      expect(text(input!.metadata.encoding!)).toBe('json/plain');
      expect(JSON.parse(text(input!.data))).toMatchObject({
        spec: { leaseId: lease.lease_id, username: lease.data.username },
      });
      const decoded = text(issued!.data);
      expect(JSON.parse(decoded).password).toMatch(/^sealed:v1:/);
      expect(decoded).not.toContain(lease.data.password);

      const { rows } = await stack.stores.db.query(
        `SELECT identity_id, extra_data FROM audit_log WHERE action = 'codec_decode'`,
      );
      expect(rows).toContainEqual({ identity_id: 'root', extra_data: { namespace: 'default', payloads: 2 } });
    },
  );

  it('encodes with the instance key: the product opens what it seals, and decode gives the payload back', async () => {
    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('{"ticket":"OPS-1"}').toString('base64'),
    };
    const encoded = await codecCall('encode', [plain], bearer(stack.rootToken));
    expect(encoded.statusCode, encoded.body).toBe(200);
    const sealed = (encoded.json().payloads as JsonPayload[])[0]!;
    expect(text(sealed.metadata.encoding!)).toBe('binary/encrypted');
    expect(Buffer.from(sealed.data, 'base64').toString('latin1')).not.toContain('OPS-1');
    const [opened] = await new EncryptionCodec(payloadKeyring(stack.masterKeys)).decode([
      {
        metadata: {
          encoding: Buffer.from(sealed.metadata.encoding!, 'base64'),
          'encryption-key-id': Buffer.from(sealed.metadata['encryption-key-id']!, 'base64'),
        },
        data: Buffer.from(sealed.data, 'base64'),
      },
    ]);
    expect(Buffer.from(opened!.data!).toString()).toBe('{"ticket":"OPS-1"}');
    const decoded = await codecCall('decode', [sealed], bearer(stack.rootToken));
    expect(decoded.json()).toEqual({ payloads: [plain] });
  });

  it('refuses without a token (401), with a bad one (401), and without admin (403), decoding nothing', async () => {
    const everythingButAdmin = (
      await mintToken(
        stack,
        'svc:all-but-admin',
        SCOPES.filter((s) => s !== 'admin'),
      )
    ).token;
    for (const [headers, status] of [
      [{}, 401],
      [bearer('svt_not-a-token'), 401],
      [bearer(everythingButAdmin), 403],
    ] as const) {
      for (const op of ['decode', 'encode'] as const) {
        const response = await codecCall(op, [toJson(stored.input)], headers);
        expect(response.statusCode, `${op} ${JSON.stringify(headers)}`).toBe(status);
        expect(response.body).not.toContain(lease.lease_id);
        expect(response.body).not.toContain(Buffer.from(lease.lease_id).toString('base64'));
        expect(response.json().error.code).toBe(status === 401 ? 'unauthorized' : 'forbidden');
      }
    }
  });

  it("decodes for Temporal's own client: `temporal workflow show --codec-endpoint`", async () => {
    // Asynchronously: the CLI calls back into the API this process serves.
    const show = async (...extra: string[]) =>
      // A bounded wait: a CLI stuck on the codec endpoint fails this test instead of hanging the suite.
      (
        await execFileAsync(
          ensureTemporalCli(),
          ['workflow', 'show', '-w', lease.lease_id, '--address', stack.temporalAddress, '--output', 'json', ...extra],
          { timeout: 30_000 },
        )
      ).stdout;
    const startInput = (json: string) => {
      const [payload] = JSON.parse(json).events[0].workflowExecutionStartedEventAttributes.input.payloads;
      return { encoding: text(payload.metadata.encoding), data: text(payload.data) };
    };
    expect(startInput(await show())).toMatchObject({ encoding: 'binary/encrypted' });
    const decoded = startInput(
      await show('--codec-endpoint', `${stack.baseUrl}/v1/sys/codec`, '--codec-auth', `Bearer ${stack.rootToken}`),
    );
    expect(decoded.encoding).toBe('json/plain');
    expect(JSON.parse(decoded.data)).toMatchObject({ spec: { leaseId: lease.lease_id, metadata: { ticket: TICKET } } });
  });

  it("answers the Web UI's CORS preflight with credentials allowed, and no other origin or route", async () => {
    const preflight = (url: string, origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url,
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const ok = await preflight('/v1/sys/codec/decode', UI_ORIGIN);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(String(ok.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/x-namespace/);
    for (const [url, origin] of [
      ['/v1/sys/codec/decode', 'http://evil.example'],
      ['/v1/secrets/anything', UI_ORIGIN],
      ['/v1/sys/codec/session', UI_ORIGIN],
    ]) {
      const refused = await preflight(url!, origin!);
      expect(refused.headers['access-control-allow-origin'], `${url} from ${origin}`).toBeUndefined();
      expect(refused.headers['access-control-allow-credentials']).toBeUndefined();
    }
    // The UI can read a refusal, so it can tell the operator to sign in.
    const refusal = await codecCall('decode', [toJson(stored.input)], { origin: UI_ORIGIN });
    expect(refusal.statusCode).toBe(401);
    expect(refusal.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
  });
});

describe('the codec session (for a browser, which cannot send the bearer token)', () => {
  it('serves a sign-in page that runs only its own script', async () => {
    const page = await app.inject({ method: 'GET', url: '/v1/sys/codec/session' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<form id="sign-in"');
    // The one inline script is the one the policy allows (a browser would refuse any other), and it parses.
    const script = page.body.match(/<script>([\s\S]*)<\/script>/)![1]!;
    expect(page.headers['content-security-policy']).toContain(
      `script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`,
    );
    expect(() => new Script(script)).not.toThrow();
    expect(script).toContain(
      "fetch('/v1/sys/codec/session', { method: 'POST', headers: { authorization: 'Bearer ' + token } })",
    );
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('gives an admin an HttpOnly SameSite=Strict cookie that decodes alone, and nothing to anyone else', async () => {
    const operator = await mintToken(stack, 'user:operator', ['admin']);
    const reader = (await mintToken(stack, 'svc:reader', ['audit:read', 'dynamic:manage'])).token;
    const signIn = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/sys/codec/session', headers });
    for (const [headers, status] of [
      [{}, 401],
      [bearer('svt_not-a-token'), 401],
      [bearer(reader), 403],
    ] as const) {
      const refused = await signIn(headers);
      expect(refused.statusCode).toBe(status);
      expect(refused.headers['set-cookie']).toBeUndefined();
    }

    const signedIn = await signIn(bearer(operator.token));
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect(signedIn.json()).toMatchObject({ identity_id: 'user:operator', expires_at: expect.any(String) });
    const setCookie = cookieOf(signedIn.headers['set-cookie'])!;
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\/v1\/sys\/codec(;|$)/);
    expect(setCookie).toMatch(/; Max-Age=28800/);
    const cookie = setCookie.split(';')[0]!;
    for (const form of [
      operator.token,
      Buffer.from(operator.token).toString('base64'),
      Buffer.from(operator.token).toString('base64url'),
      Buffer.from(operator.token).toString('hex'),
    ]) {
      expect(setCookie).not.toContain(form);
      expect(signedIn.body).not.toContain(form);
    }

    const viaCookie = await codecCall('decode', [toJson(stored.input)], { cookie, origin: UI_ORIGIN });
    expect(viaCookie.statusCode, viaCookie.body).toBe(200);
    expect(JSON.parse(text((viaCookie.json().payloads as JsonPayload[])[0]!.data)).spec.leaseId).toBe(lease.lease_id);
    expect(viaCookie.headers['access-control-allow-credentials']).toBe('true');
    const { rows } = await stack.stores.db.query(
      `SELECT 1 FROM audit_log WHERE action = 'codec_decode' AND identity_id = 'user:operator'`,
    );
    expect(rows).toHaveLength(1);

    // The cookie is good for the codec only: not for any other route, and not once altered.
    expect((await app.inject({ method: 'GET', url: '/v1/dynamic/leases', headers: { cookie } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/sys/codec/session', headers: { cookie } })).statusCode).toBe(
      401,
    );
    const value = cookie.slice(cookie.indexOf('=') + 1);
    const altered = `${CODEC_SESSION_COOKIE}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await codecCall('decode', [toJson(stored.input)], { cookie: altered })).statusCode).toBe(401);

    // Revoking the token ends the session at once (on this instance; on others within their 1 s token cache).
    expect(
      (
        await app.inject({
          method: 'DELETE',
          url: `/v1/auth/tokens/${operator.token_id}`,
          headers: bearer(stack.rootToken),
        })
      ).statusCode,
    ).toBe(204);
    const afterRevoke = await codecCall('decode', [toJson(stored.input)], { cookie });
    expect(afterRevoke.statusCode).toBe(401);
    expect(afterRevoke.body).not.toContain(lease.lease_id);
  });

  it('keeps tokens and cookies out of log lines (redaction configuration)', () => {
    const lines: string[] = [];
    const log = pino(
      loggerOptions('info'),
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    log.info({
      req: { headers: { authorization: 'Bearer tok-secret-1', cookie: 'scaivault_codec_session=cookie-secret-2' } },
      res: { headers: { 'set-cookie': 'scaivault_codec_session=cookie-secret-3' } },
    });
    log.info({ headers: { cookie: 'cookie-secret-4' }, cookie: 'cookie-secret-5', token: 'tok-secret-6' });
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toMatch(/secret-\d/);
  });

  it(
    'signs in and decodes through `npm run api` (master key and UI origin wired), ' +
      'logging neither the token nor the cookie',
    async () => {
      const port = await freePort();
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-codec-'));
      const api = runEntry('api/main.ts', {
        DATABASE_URL: stack.databaseUrl,
        SCAIVAULT_MASTER_KEY: stack.masterKey,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        TEMPORAL_TASK_QUEUE: stack.taskQueue,
        SCAIVAULT_PORT: String(port),
        SCAIVAULT_DATA_DIR: dataDir,
        SCAIVAULT_LOG_LEVEL: 'trace',
        SCAIVAULT_CODEC_UI_ORIGINS: UI_ORIGIN,
      });
      try {
        const base = `http://127.0.0.1:${port}/v1/sys/codec`;
        const health = await waitFor(
          () =>
            fetch(`http://127.0.0.1:${port}/v1/sys/health`).then(
              (r) => r.status,
              () => 0,
            ),
          (s) => s === 200 || api.exitCode !== null,
          60_000,
        );
        expect(health, api.output()).toBe(200);
        const operator = await mintToken(stack, 'user:logged-operator', ['admin']);
        const signedIn = await fetch(`${base}/session`, { method: 'POST', headers: bearer(operator.token) });
        expect(signedIn.status).toBe(200);
        const cookie = cookieOf(signedIn.headers.getSetCookie())!.split(';')[0]!;
        const decoded = await fetch(`${base}/decode`, {
          method: 'POST',
          headers: { cookie, origin: UI_ORIGIN, 'content-type': 'application/json', 'x-namespace': 'default' },
          body: JSON.stringify({ payloads: [toJson(stored.input)] }),
        });
        expect(decoded.status).toBe(200);
        expect(decoded.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
        expect(
          await fetch(`${base}/session`, { method: 'POST', headers: bearer(`${operator.token}x`) }).then(
            (r) => r.status,
          ),
        ).toBe(401);

        api.kill('SIGTERM');
        expect(await exited(api)).toBe(0);
        const output = api.output();
        expect(output).toContain('/v1/sys/codec/decode'); // the requests were logged...
        const cookieValue = cookie.slice(cookie.indexOf('=') + 1);
        for (const secret of [operator.token, cookieValue, cookieValue.slice(0, 24), stack.rootToken])
          expect(output).not.toContain(secret); // ...without their credentials
      } finally {
        api.kill('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
