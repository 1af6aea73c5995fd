import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, enginePage, engineResponse, noContent } from '../responses';
import { pageOf, pageQuerySchema } from '../../lib/pagination';
import {
  DEFAULT_CREDENTIALS_CACHE_TTL,
  DEFAULT_LOCK_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  MAX_STATEMENT_TIMEOUT,
} from '../services/engines';
import { ENGINES_PATH, engineConfigPath } from '../../lib/access';
import type { Permission } from '../../lib/access';
import type { ApiServices } from '../services';
import { durationSchema, nameSchema, secretPathSchema } from '../schemas';

const limitSchema = durationSchema.pipe(
  z
    .number()
    .min(1, 'must be at least 1s')
    .max(MAX_STATEMENT_TIMEOUT, `must be at most ${MAX_STATEMENT_TIMEOUT}s, below the activities' 30 s`),
);
const configSchema = z.object({
  plugin: z.literal('postgresql'),
  connection_url: z.string().min(1).max(2048),
  /** PEM certificate(s) of the CA that verifies the database (libpq's sslrootcert, as a value); null clears it. */
  ca_certificate: z.string().min(1).max(65_536).nullable().optional(),
  root_credentials_path: secretPathSchema,
  credentials_cache_ttl: durationSchema.optional(),
  /** How long a statement on the database may run, and wait for a lock (1s to 25s, below the activities' 30 s). */
  statement_timeout: limitSchema.optional(),
  lock_timeout: limitSchema.optional(),
});
const engineBody = z.object({
  name: nameSchema,
  type: z.literal('database'),
  config: configSchema,
  default_ttl: durationSchema,
  max_ttl: durationSchema,
});
const engineParams = z.object({ name: nameSchema });

export const engineRoutes =
  (services: ApiServices): FastifyPluginAsyncZod =>
  async (app) => {
    const manage = (permission: Permission, path: (name?: string) => string) => ({
      access: {
        scope: 'dynamic:manage' as const,
        permission,
        path: (r: { params: unknown }) => path((r.params as { name?: string }).name),
      },
    });

    app.post(
      '/v1/dynamic/engines',
      {
        schema: { body: engineBody, response: answers({ 201: engineResponse }) },
        config: manage('write', () => ENGINES_PATH),
      },
      async (request, reply) => {
        const { name, config, default_ttl, max_ttl } = request.body;
        const engine = await services.engines.create(request.identity, {
          name,
          default_ttl,
          max_ttl,
          connection_url: config.connection_url,
          ca_certificate: config.ca_certificate ?? null,
          root_credentials_path: config.root_credentials_path,
          credentials_cache_ttl: config.credentials_cache_ttl ?? DEFAULT_CREDENTIALS_CACHE_TTL,
          statement_timeout: config.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT,
          lock_timeout:
            config.lock_timeout ??
            Math.min(DEFAULT_LOCK_TIMEOUT, config.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT),
        });
        return reply.status(201).send(engine);
      },
    );

    app.get(
      '/v1/dynamic/engines',
      {
        schema: { querystring: pageQuerySchema, response: answers({ 200: enginePage }) },
        config: manage('list', () => ENGINES_PATH),
      },
      async (request) => pageOf(await services.engines.list(), (e) => e.name, request.query),
    );

    app.get(
      '/v1/dynamic/engines/:name',
      {
        schema: { params: engineParams, response: answers({ 200: engineResponse }) },
        config: manage('read', (n) => engineConfigPath(n!)),
      },
      async (request) => services.engines.get(request.params.name),
    );

    app.patch(
      '/v1/dynamic/engines/:name',
      {
        schema: {
          params: engineParams,
          body: engineBody.omit({ name: true }).extend({ config: configSchema.partial() }).partial(),
          response: answers({ 200: engineResponse }),
        },
        config: manage('write', (n) => engineConfigPath(n!)),
      },
      async (request) => {
        const { config = {}, default_ttl, max_ttl } = request.body;
        const patch = { ...config, default_ttl, max_ttl };
        return services.engines.update(
          request.identity,
          request.params.name,
          Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
        );
      },
    );

    app.post(
      '/v1/dynamic/engines/:name/rotate-root',
      {
        schema: { params: engineParams, response: answers({ 200: engineResponse }) },
        config: manage('rotate', (n) => engineConfigPath(n!)),
      },
      async (request) => services.engines.rotateRoot(request.identity, request.params.name),
    );

    app.delete(
      '/v1/dynamic/engines/:name',
      {
        schema: {
          params: engineParams,
          querystring: z.object({ force: z.enum(['true', 'false']).default('false') }),
          response: answers({ 204: noContent }),
        },
        config: manage('delete', (n) => engineConfigPath(n!)),
      },
      async (request, reply) => {
        await services.engineRetirement.delete(request.identity, request.params.name, request.query.force === 'true');
        return reply.status(204).send(null);
      },
    );
  };
