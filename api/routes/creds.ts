import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, credentials } from '../responses';
import { credsPath } from '../../lib/access';
import type { ApiServices } from '../services';
import { durationSchema, metadataSchema, nameSchema } from '../schemas';

const params = z.object({ engine: nameSchema, role: nameSchema });

export const credsRoutes =
  (services: ApiServices): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/dynamic/engines/:engine/creds/:role',
      {
        schema: {
          params,
          body: z.object({ ttl: durationSchema.optional(), metadata: metadataSchema.optional() }).default({}),
          response: answers({ 200: credentials }),
        },
        config: {
          access: {
            scope: 'dynamic:generate',
            permission: 'generate',
            path: (r) => {
              const p = r.params as z.infer<typeof params>;
              return credsPath(p.engine, p.role);
            },
          },
        },
      },
      async (request) =>
        services.leases.issue(request.identity, request.params.engine, request.params.role, request.body),
    );
  };
