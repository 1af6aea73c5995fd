import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, noContent, rolePage, roleResponse, savedRole } from '../responses';
import { pageOf, pageQuerySchema } from '../../lib/pagination';
import { rolePath, type Permission } from '../../lib/access';
import type { ApiServices } from '../services';
import { durationSchema, nameSchema, statementsSchema } from '../schemas';

const roleBody = z.object({
  name: nameSchema,
  creation_statements: statementsSchema.min(1),
  revocation_statements: statementsSchema.min(1).optional(),
  renew_statements: statementsSchema.optional(),
  default_ttl: durationSchema.optional(),
  max_ttl: durationSchema.optional(),
  username_template: z.string().min(1).max(128).optional(),
});
const engineParams = z.object({ engine: nameSchema });
const roleParams = z.object({ engine: nameSchema, name: nameSchema });

export const roleRoutes =
  (services: ApiServices): FastifyPluginAsyncZod =>
  async (app) => {
    const manage = (permission: Permission) => ({
      access: {
        scope: 'dynamic:manage' as const,
        permission,
        path: (r: { params: unknown }) => {
          const p = r.params as { engine: string; name?: string };
          return rolePath(p.engine, p.name);
        },
      },
    });

    app.post(
      '/v1/dynamic/engines/:engine/roles',
      {
        schema: { params: engineParams, body: roleBody, response: answers({ 200: savedRole }) },
        config: manage('write'),
      },
      async (request) => services.roles.create(request.identity, request.params.engine, request.body),
    );

    app.get(
      '/v1/dynamic/engines/:engine/roles',
      {
        schema: { params: engineParams, querystring: pageQuerySchema, response: answers({ 200: rolePage }) },
        config: manage('list'),
      },
      async (request) => pageOf(await services.roles.list(request.params.engine), (r) => r.name, request.query),
    );

    app.get(
      '/v1/dynamic/engines/:engine/roles/:name',
      { schema: { params: roleParams, response: answers({ 200: roleResponse }) }, config: manage('read') },
      async (request) => services.roles.get(request.params.engine, request.params.name),
    );

    app.patch(
      '/v1/dynamic/engines/:engine/roles/:name',
      {
        schema: {
          params: roleParams,
          body: roleBody.omit({ name: true }).partial(),
          response: answers({ 200: savedRole }),
        },
        config: manage('write'),
      },
      async (request) =>
        services.roles.update(request.identity, request.params.engine, request.params.name, request.body),
    );

    app.delete(
      '/v1/dynamic/engines/:engine/roles/:name',
      { schema: { params: roleParams, response: answers({ 204: noContent }) }, config: manage('delete') },
      async (request, reply) => {
        await services.roles.delete(request.identity, request.params.engine, request.params.name);
        return reply.status(204).send(null);
      },
    );
  };
