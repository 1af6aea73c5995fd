import type { Client, Connection } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Stores } from '../../store';

export const sysRoutes = (stores: Stores, temporal: Client): FastifyPluginAsyncZod => async (app) => {
  app.get('/v1/sys/health', { config: { access: { public: true } } }, async (_request, reply) => {
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
