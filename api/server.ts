import type { Client } from '@temporalio/client';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import { loggerOptions } from '../lib/logger';
import type { Stores } from '../store';
import { adminOnlyPaths, registerAuth, type Authorizer } from './auth';
import { errorHandler, sendError } from './errors';
import { credsRoutes } from './routes/creds';
import { engineRoutes } from './routes/engines';
import { leaseRoutes } from './routes/leases';
import { roleRoutes } from './routes/roles';
import { secretRoutes } from './routes/secrets';
import { sysRoutes } from './routes/sys';
import { createServices } from './services';

export interface ApiSetup {
  stores: Stores;
  temporal: Client;
  taskQueue: string;
  logLevel?: string;
  authorizer?: Authorizer;
}

export const BODY_LIMIT_BYTES = 1024 * 1024;

export async function buildServer(setup: ApiSetup) {
  const app = Fastify({
    logger: loggerOptions(setup.logLevel ?? 'info'),
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: () => `req_${randomUUID()}`,
    requestIdHeader: false,
    ajv: { customOptions: { allErrors: false } },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendError(reply, request, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
  });

  registerAuth(app, setup.stores, setup.authorizer ?? adminOnlyPaths);
  const services = createServices(setup.stores, setup.temporal, setup.taskQueue);
  await app.register(sysRoutes(setup.stores, setup.temporal));
  await app.register(secretRoutes(services));
  await app.register(engineRoutes(services));
  await app.register(roleRoutes(services));
  await app.register(credsRoutes(services));
  await app.register(leaseRoutes(services));
  app.addHook('onClose', services.close);
  return app;
}
