import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { TrustProxy } from '../lib/config';
import { loggerOptions } from '../lib/logger';
import { metricsRegistry } from '../store/metrics';
import { EncryptionCodec } from '../lib/payload-codec';
import { leasePasswordSeal, payloadKeyring, type Stores } from '../store';
import { registerAuth, type Authorizer } from './auth';
import { CodecSessions, registerCodecBrowserAccess } from './codec-session';
import { DEFAULT_TOKEN_CACHE_MS, LiveTokens } from './live-tokens';
import { errorHandler, rejectMalformedRequest, refuseNulCharacters, sendError } from './errors';
import type { FailureLimit } from './failure-limiter';
import { policyAuthorizer } from './policy-authorizer';
import { auditRoutes } from './routes/audit';
import { authRoutes } from './routes/auth';
import { codecRoutes } from './routes/codec';
import { credsRoutes } from './routes/creds';
import { engineRoutes } from './routes/engines';
import { leaseRoutes } from './routes/leases';
import { metricsRoutes } from './routes/metrics';
import { policyRoutes } from './routes/policies';
import { roleRoutes } from './routes/roles';
import { rotationRoutes } from './routes/rotation';
import { secretRoutes } from './routes/secrets';
import { openApiRoute, sysRoutes } from './routes/sys';
import { createServices } from './services';
import { auditCheckpoints } from './audit-checkpoints';
import { storeId } from '../store/bootstrap';

export interface ApiSetup {
  stores: Stores;
  temporal: Client;
  taskQueue: string;
  /** The instance's master keys, newest first: the codec endpoint opens Temporal payloads with them. */
  masterKeys: Buffer[];
  /** Web UI origins allowed to call the codec endpoint from a browser (CORS with credentials); none by default. */
  codecUiOrigins?: string[];
  logLevel?: string;
  /** The process's logger; a plain pino logger at `logLevel` when unset. */
  logger?: pino.Logger;
  authorizer?: Authorizer;
  /** How long an issue, renew or revoke waits for a worker before answering without it (default 30 s). */
  workerWaitMs?: number;
  /** Failed authentications allowed per source address and window before 429. */
  authFailureLimit?: FailureLimit;
  /** How long a token found live is trusted before the store is asked again (default 1 s; 0: every request). */
  tokenCacheMs?: number;
  /** Proxies whose X-Forwarded-For is believed (fastify's `trustProxy`); none by default. */
  trustProxy?: TrustProxy;
  /** How often the audit chain's head is checkpointed into Temporal (default 60 s; also at shutdown). */
  auditCheckpointMs?: number;
  /** Serve HTTPS with this certificate and key (PEM): cookies are then `Secure` and answers carry HSTS. */
  https?: { cert: Buffer; key: Buffer };
}

export const BODY_LIMIT_BYTES = 1024 * 1024;
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * One line per request, at debug: writing two info lines per request was about a fifth of the API's busy
 * time in a CPU profile under load (bench/README.md), and the audit log is the record of what was asked and by
 * whom. Errors still log.
 */
class QuietRequestLog extends LogController {
  override incomingRequest() {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    if (error) return super.requestCompleted(error, request, reply);
    request.log.debug(
      {
        method: request.method,
        url: request.routeOptions.url ?? 'unrouted',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  }
}

export async function buildServer(setup: ApiSetup) {
  const app = Fastify({
    // (Typed as the HTTP server: fastify's https server answers the same interface the routes use.)
    ...((setup.https ? { https: setup.https } : {}) as object),
    loggerInstance: (setup.logger ?? pino(loggerOptions(setup.logLevel ?? 'info'))) as FastifyBaseLogger,
    logController: new QuietRequestLog(),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: setup.trustProxy ?? false,
    genReqId: () => `req_${randomUUID()}`,
    requestIdHeader: false,
    // Long enough that an over-long name reaches its schema and is refused there with a clear 400.
    routerOptions: { maxParamLength: 1024 },
    // Errors found while routing (a malformed URL) leave in the contract's shape too.
    frameworkErrors: (error, request, reply) =>
      sendError(reply, request, 'invalid_request', error.message.replace(/^FST_\w+: /, '')),
    // Errors found before a request exists (headers too large, a broken request line).
    clientErrorHandler: rejectMalformedRequest,
    // A request that arrives while the server stops is refused in the contract's shape (below), not fastify's.
    return503OnClosing: false,
  }).withTypeProvider<ZodTypeProvider>();
  // Many HTTP clients send `Content-Type: application/json` on every call, a body-less DELETE too: an empty
  // body is no body (the route's schema still decides whether one is needed); anything else is parsed as fastify does.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : parseJson(request, body.toString(), done),
  );
  app.setValidatorCompiler(validatorCompiler);
  // No body at all (no Content-Type, or the parser above found it empty) reads as `{}` on a route with a body
  // schema, which then decides whether `{}` will do: `curl -X POST .../creds/<role>` works, as a body-less Vault
  // write does. fastify would validate it as `null`, as it does a JSON `null`, which stays refused.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body) request.body = {};
  });
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  if (setup.https) {
    // Browsers remember to come back over HTTPS only (the codec session cookie is Secure on HTTPS too).
    app.addHook(
      'onSend',
      async (_request, reply) => void reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains'),
    );
  }
  // Stopping: requests already taken finish; a new one (on a kept-alive connection) is told to go elsewhere.
  let stopping = false;
  app.addHook('preClose', async () => void (stopping = true));
  app.addHook('onRequest', async (request, reply) => {
    if (!stopping) return;
    return sendError(
      reply,
      request,
      'engine_unavailable',
      'this API instance is stopping; send the request again (to another instance)',
    );
  });
  // While stopping, every answer closes its connection: the client opens a new one (to another instance)
  // rather than reusing one this server is about to close under it.
  app.addHook('onSend', async (_request, reply) => {
    if (stopping) reply.header('connection', 'close');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, request, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
  app.addHook('preValidation', async (request) => refuseNulCharacters(request));
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
  });

  // Before the routes: the OpenAPI document is collected from each route's zod schemas as it is added.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ScaiVault dynamic credentials',
        version: PACKAGE_VERSION,
        description: 'Short-lived Postgres credentials under Temporal-backed leases.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a ScaiVault token (svt_...)' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  const codecSessions = new CodecSessions(setup.masterKeys);
  // Before the auth hook: CORS preflights are answered first, and a codec session cookie becomes a bearer header.
  await registerCodecBrowserAccess(app, codecSessions, setup.codecUiOrigins ?? []);
  const authorizer = setup.authorizer ?? policyAuthorizer(setup.stores.policies);
  const liveTokens = new LiveTokens(
    (hash) => setup.stores.identities.findLiveToken(hash),
    setup.tokenCacheMs ?? DEFAULT_TOKEN_CACHE_MS,
  );
  registerAuth(app, setup.stores, authorizer, liveTokens.find, setup.authFailureLimit);
  const checkpoints = auditCheckpoints({
    audit: setup.stores.audit,
    temporal: setup.temporal,
    taskQueue: setup.taskQueue,
    storeId: await storeId(setup.stores),
    log: app.log,
    intervalMs: setup.auditCheckpointMs,
  });
  app.addHook('onClose', checkpoints.close);
  app.decorate('auditCheckpoints', checkpoints);
  const services = createServices({
    stores: setup.stores,
    temporal: setup.temporal,
    taskQueue: setup.taskQueue,
    authorizer,
    passwords: leasePasswordSeal(setup.masterKeys),
    liveTokens,
    checkpoints,
    workerWaitMs: setup.workerWaitMs,
  });
  await app.register(sysRoutes(setup.stores, setup.temporal));
  await app.register(openApiRoute);
  await app.register(secretRoutes(services));
  await app.register(engineRoutes(services));
  await app.register(roleRoutes(services));
  await app.register(credsRoutes(services));
  await app.register(leaseRoutes(services));
  await app.register(authRoutes(services.auth));
  await app.register(policyRoutes(services.policies));
  await app.register(auditRoutes(services.audit));
  await app.register(rotationRoutes(services.rotation, services.webhooks));
  await app.register(
    codecRoutes({
      codec: new EncryptionCodec(payloadKeyring(setup.masterKeys), { passUnsealed: true }),
      sessions: codecSessions,
      audit: setup.stores.audit,
    }),
  );
  await app.register(metricsRoutes(metricsRegistry(setup.stores.db)));
  app.addHook('onClose', services.close);
  return app;
}
