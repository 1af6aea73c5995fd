import type { Client, Connection } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Stores } from '../../store';
import { answers, health } from '../responses';

export const sysRoutes = (stores: Stores, temporal: Client): FastifyPluginAsyncZod => async (app) => {
  app.get('/v1/sys/health', { schema: { response: answers({ 200: health, 503: health }) }, config: { access: { public: true } } }, async (_request, reply) => {
    const [database, temporalUp] = await Promise.all([
      stores.db.query('SELECT 1').then(() => true, () => false),
      (temporal.connection as Connection).healthService.check({}).then(() => true, () => false),
    ]);
    const status = database && temporalUp ? 'ok' : 'degraded';
    return reply.status(status === 'ok' ? 200 : 503).send({
      status,
      temporal: temporalUp ? 'ok' : 'unavailable',
      database: database ? 'ok' : 'unavailable',
    });
  });
};

/** The contract as OpenAPI 3.1, made from the routes' own zod schemas (public, like Vault's sys/internal/specs/openapi). */
export const openApiRoute: FastifyPluginAsyncZod = async (app) => {
  app.get('/v1/sys/openapi.json', { schema: { hide: true }, config: { access: { public: true } } }, async () => app.swagger());
};
