import type { Payload, PayloadCodec } from '@temporalio/common';
import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers } from '../responses';
import { ApiError } from '../../lib/errors';
import type { AuditLog } from '../../store/audit';
import { CODEC_BASE_PATH, CODEC_SESSION_COOKIE, CODEC_SESSION_SECONDS, type CodecSessions } from '../codec-session';

/** Base64 as proto3 JSON writes bytes (standard or URL-safe alphabet). */
const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
/**
 * Temporal's codec-server protocol: `temporal.api.common.v1.Payloads` in proto3 JSON, both ways. Proto3
 * JSON leaves out empty fields, so `{}` is a request with no payloads (Temporal's CLI sends it).
 */
const payloadsBody = z.object({
  payloads: z
    .array(z.object({ metadata: z.record(z.string(), base64).nullish(), data: base64.nullish() }))
    .max(10_000)
    .default([]),
});
type JsonPayload = z.infer<typeof payloadsBody>['payloads'][number];
const payloadsResponse = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()), data: z.string() })),
});
const codecSession = z.object({ identity_id: z.string(), expires_at: z.iso.datetime({ offset: true }) });

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});
const toJson = ({ metadata, data }: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
});

/** A history page's payloads can be large; Temporal caps one payload at 2 MB by default. */
const CODEC_BODY_LIMIT = 8 * 1024 * 1024;

const SIGN_IN_SCRIPT =
  `
const form = document.getElementById('sign-in'), field = document.getElementById('token'), ` +
  `out = document.getElementById('result');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = field.value.trim();
  field.value = '';
  const response = await fetch('${CODEC_BASE_PATH}/session', ` +
  `{ method: 'POST', headers: { authorization: 'Bearer ' + token } });
  const body = await response.json().catch(() => ({}));
  out.textContent = response.ok
    ? 'Signed in as ' + body.identity_id + ' until ' + body.expires_at + ` +
  `'. Reload the Temporal Web UI: it decodes payloads now.'
    : 'Not signed in: ' + ((body.error && body.error.message) || response.status);
});`;
const SIGN_IN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ScaiVault: codec sign-in</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Decode leases in the Temporal Web UI</h1>
<p>Paste an admin token. This browser then holds an HttpOnly session cookie (8 hours) that lets the Temporal Web UI
decode this instance's workflow payloads through <code>${CODEC_BASE_PATH}/decode</code>. The token itself is not stored
in the browser; revoking it ends the session.</p>
<form id="sign-in"><input id="token" type="password" autocomplete="off" size="60" placeholder="admin token" required>
<button type="submit">Sign in</button></form>
<p id="result" role="status"></p>
<script>${SIGN_IN_SCRIPT}</script>
</body></html>
`;
/** Only the page's own script runs; it talks only to this origin; no other page may frame it. */
const SIGN_IN_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(SIGN_IN_SCRIPT).digest('base64')}'`,
  "connect-src 'self'",
  "style-src 'unsafe-inline'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface CodecRouteDeps {
  codec: PayloadCodec;
  sessions: CodecSessions;
  audit: AuditLog;
}

/**
 * Temporal's codec endpoint for the Web UI and `temporal --codec-endpoint`: `POST /v1/sys/codec/decode` and
 * `/encode`, admin only (a bearer token, or the session cookie a browser gets from `/v1/sys/codec/session`).
 * A decode can show an issued password (the issue update's result), so each one is audited.
 */
export const codecRoutes =
  ({ codec, sessions, audit }: CodecRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const codecRoute = {
      schema: { body: payloadsBody, response: answers({ 200: payloadsResponse }) },
      bodyLimit: CODEC_BODY_LIMIT,
      config: { access: { scope: 'admin' as const }, codecSession: true },
    };
    const namespaceOf = (header: unknown) => (typeof header === 'string' ? header.slice(0, 256) : null);

    app.post(`${CODEC_BASE_PATH}/decode`, codecRoute, async (request) => {
      const { payloads } = request.body;
      let decoded: Payload[];
      try {
        decoded = await codec.decode(payloads.map(fromJson));
      } catch (error) {
        throw new ApiError(
          'invalid_request',
          `a payload could not be decoded: ${error instanceof Error ? error.message : 'unknown error'}`,
        );
      }
      if (payloads.length > 0) {
        await audit.append({
          identity_id: request.identity.identity_id,
          action: 'codec_decode',
          path: 'sys/codec/decode',
          result: 'success',
          extra_data: { namespace: namespaceOf(request.headers['x-namespace']), payloads: payloads.length },
        });
      }
      return { payloads: decoded.map(toJson) };
    });

    app.post(`${CODEC_BASE_PATH}/encode`, codecRoute, async (request) => ({
      payloads: (await codec.encode(request.body.payloads.map(fromJson))).map(toJson),
    }));

    app.get(`${CODEC_BASE_PATH}/session`, { config: { access: { public: true } } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', SIGN_IN_CSP)
        .header('x-frame-options', 'DENY')
        .send(SIGN_IN_PAGE),
    );

    /**
     * Sign-in: the admin token comes as a bearer header (so the auth hook checks, audits and rate-limits
     * it), the cookie goes back.
     */
    app.post(
      `${CODEC_BASE_PATH}/session`,
      { schema: { response: answers({ 200: codecSession }) }, config: { access: { scope: 'admin' } } },
      async (request, reply) => {
        const token = request.headers.authorization!.replace(/^Bearer\s+/i, '').trim();
        const { value, expiresAt } = sessions.seal(token);
        await audit.append({
          identity_id: request.identity.identity_id,
          action: 'codec_session',
          path: 'sys/codec/session',
          result: 'success',
          extra_data: { token_id: request.identity.token_id, expires_at: expiresAt.toISOString() },
        });
        reply.setCookie(CODEC_SESSION_COOKIE, value, {
          path: CODEC_BASE_PATH,
          httpOnly: true,
          sameSite: 'strict',
          secure: request.protocol === 'https',
          maxAge: CODEC_SESSION_SECONDS,
        });
        return { identity_id: request.identity.identity_id, expires_at: expiresAt.toISOString() };
      },
    );
  };
