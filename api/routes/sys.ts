import type { Client, Connection } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Stores } from '../../store';
import { answers, health } from '../responses';

export const sysRoutes =
  (stores: Pick<Stores, 'answers'>, temporal: Client): FastifyPluginAsyncZod =>
  async (app) => {
    const probe = async () => {
      const [database, temporalUp] = await Promise.all([
        stores.answers(),
        (temporal.connection as Connection).healthService.check({}).then(
          () => true,
          () => false,
        ),
      ]);
      return {
        status: database && temporalUp ? ('ok' as const) : ('degraded' as const),
        temporal: temporalUp ? ('ok' as const) : ('unavailable' as const),
        database: database ? ('ok' as const) : ('unavailable' as const),
      };
    };
    const publicRoute = { access: { public: true as const } };

    // Liveness: the process answers; what it depends on is reported, not held against it (restarting an API
    // because the store is away would not bring the store back).
    app.get('/v1/sys/health', { schema: { response: answers({ 200: health }) }, config: publicRoute }, async () =>
      probe(),
    );

    // Readiness: 503 while the store or Temporal is unreachable, so a load balancer sends requests elsewhere.
    app.get(
      '/v1/sys/ready',
      { schema: { response: answers({ 200: health, 503: health }) }, config: publicRoute },
      async (_request, reply) => {
        const state = await probe();
        return reply.status(state.status === 'ok' ? 200 : 503).send(state);
      },
    );
  };

/**
 * The contract as OpenAPI 3.1, made from the routes' own zod schemas (public, like Vault's
 * sys/internal/specs/openapi).
 */
export const openApiRoute: FastifyPluginAsyncZod = async (app) => {
  app.get('/v1/sys/openapi.json', { schema: { hide: true }, config: { access: { public: true } } }, async () =>
    app.swagger(),
  );
};
