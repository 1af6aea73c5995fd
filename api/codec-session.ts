import cookie from '@fastify/cookie';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Keyring } from '../lib/keyring';

/**
 * How a browser reaches the codec endpoint. The Temporal Web UI calls `/v1/sys/codec/decode` from its own
 * origin and cannot attach our bearer token, so an operator signs in once at `/v1/sys/codec/session` with an
 * admin token and the browser then sends an HttpOnly, SameSite=Strict cookie with the UI's calls
 * ("Include cross-origin credentials" in the UI's codec settings).
 *
 * The cookie is the token sealed (AES-256-GCM, a key derived from the master key for this purpose alone)
 * with an end 8 hours out: stateless, so any API process of the instance accepts it, unreadable to the
 * browser and to whoever copies it, and honoured only by the routes that declare `codecSession` (decode and
 * encode). Each use authenticates as that token through the ordinary bearer path, so revoking or expiring
 * the token ends the session, and failures are audited and rate-limited like any other.
 */
export const CODEC_SESSION_COOKIE = 'scaivault_codec_session';
/** The codec routes' common path, which is also the session cookie's path. */
export const CODEC_BASE_PATH = '/v1/sys/codec';
export const CODEC_SESSION_SECONDS = 8 * 3600;
const SEAL_CONTEXT = 'scaivault:codec-session';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also takes the codec session cookie in place of an Authorization header. */
    codecSession?: boolean;
  }
}

export class CodecSessions {
  private readonly keyring: Keyring;

  constructor(masterKeys: Buffer[]) {
    this.keyring = Keyring.derive(masterKeys, 'codec-session');
  }

  /** The cookie value for a token, and when it stops being accepted. */
  seal(token: string): { value: string; expiresAt: Date } {
    const expiresAt = new Date(Date.now() + CODEC_SESSION_SECONDS * 1000);
    const plain = Buffer.from(JSON.stringify({ token, exp: expiresAt.getTime() }));
    const { keyId, sealed } = this.keyring.seal(plain, SEAL_CONTEXT);
    return { value: `${keyId}.${sealed.toString('base64url')}`, expiresAt };
  }

  /** The token a cookie value carries; undefined when it is forged, sealed by another key, or past its end. */
  open(value: string): string | undefined {
    const [keyId, sealed, extra] = value.split('.');
    if (!keyId || !sealed || extra !== undefined) return undefined;
    try {
      const { token, exp } = JSON.parse(
        this.keyring.open(keyId, Buffer.from(sealed, 'base64url'), SEAL_CONTEXT).toString('utf8'),
      );
      return typeof token === 'string' && typeof exp === 'number' && exp > Date.now() ? token : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * The Web UI's origins allowed to call the codec endpoint: SCAIVAULT_CODEC_UI_ORIGINS (comma separated), else
 * the local dev UI under both names a browser may use for it.
 */
export function codecUiOrigins(uiPort: number, configured = process.env.SCAIVAULT_CODEC_UI_ORIGINS): string[] {
  if (configured)
    return configured
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
  return [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`];
}

/** CORS with credentials for the UI's origins on the codec routes; no CORS anywhere else. */
function corsFor(request: FastifyRequest, uiOrigins: string[]): FastifyCorsOptions {
  const path = request.url.split('?')[0]!;
  const origin = request.headers.origin;
  if (!/^\/v1\/sys\/codec\/(decode|encode)$/.test(path) || !origin || !uiOrigins.includes(origin))
    return { origin: false };
  return {
    origin: uiOrigins,
    credentials: true,
    methods: ['POST'],
    allowedHeaders: ['content-type', 'x-namespace', 'authorization'],
    maxAge: 600,
  };
}

/**
 * Registered before the auth hook: a preflight is answered before authentication (a browser never sends
 * credentials on one), and a session cookie is turned into the bearer header the auth hook checks.
 */
export async function registerCodecBrowserAccess(app: FastifyInstance, sessions: CodecSessions, uiOrigins: string[]) {
  await app.register(cors, { delegator: (request, callback) => callback(null, corsFor(request, uiOrigins)) });
  await app.register(cookie);
  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.config.codecSession || request.headers.authorization) return;
    const value = request.cookies[CODEC_SESSION_COOKIE];
    const token = value ? sessions.open(value) : undefined;
    if (token) request.headers.authorization = `Bearer ${token}`;
  });
}
