import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, noContent, secretPaths, secretResponse, secretVersions, secretWritten } from '../responses';
import type { ApiServices } from '../services';
import { pageQuerySchema } from '../../lib/pagination';
import { secretPathSchema } from '../schemas';

const pathParams = z.object({ '*': secretPathSchema });
/** `<path>/versions` is the versions listing of `<path>`: no secret may be written or deleted under that name. */
const writablePathParams = z.object({
  '*': secretPathSchema.refine(
    (path) => !/(^|\/)versions$/.test(path),
    'a secret path may not end in "versions": GET <path>/versions lists the versions of <path>',
  ),
});

export const secretRoutes =
  (services: ApiServices): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/secrets',
      {
        schema: {
          querystring: pageQuerySchema.extend({ prefix: z.string().max(512).default('') }),
          response: answers({ 200: secretPaths }),
        },
        config: {
          access: {
            scope: 'secrets:read',
            permission: 'list',
            path: (r) => (r.query as { prefix?: string }).prefix ?? '',
          },
        },
      },
      async (request) => {
        const { prefix, ...page } = request.query;
        const { paths, next_cursor } = await services.secrets.list(prefix, page);
        return { data: { paths }, next_cursor };
      },
    );

    app.get(
      '/v1/secrets/*',
      {
        schema: {
          params: pathParams,
          querystring: z.object({ version: z.coerce.number().int().positive().optional() }),
          // `<path>/versions` answers the versions listing instead.
          response: answers({ 200: z.union([secretResponse, secretVersions]) }),
        },
        config: { access: { scope: 'secrets:read', permission: 'read', path: (r) => secretPath(r.params) } },
      },
      async (request) => {
        const path = request.params['*'];
        if (path.endsWith('/versions')) return services.secrets.versions(path.slice(0, -'/versions'.length));
        return services.secrets.get(request.identity, path, request.query.version);
      },
    );

    app.put(
      '/v1/secrets/*',
      {
        schema: {
          params: writablePathParams,
          body: z.object({
            data: z.record(z.string(), z.unknown()),
            secret_type: z.string().min(1).max(64).default('json'),
          }),
          response: answers({ 200: secretWritten }),
        },
        config: { access: { scope: 'secrets:write', permission: 'write', path: (r) => wildcard(r.params) } },
      },
      async (request) =>
        services.secrets.put(request.identity, request.params['*'], request.body.data, request.body.secret_type),
    );

    app.delete(
      '/v1/secrets/*',
      {
        schema: { params: writablePathParams, response: answers({ 204: noContent }) },
        config: { access: { scope: 'secrets:write', permission: 'delete', path: (r) => wildcard(r.params) } },
      },
      async (request, reply) => {
        await services.secrets.delete(request.identity, request.params['*']);
        return reply.status(204).send(null);
      },
    );
  };

const wildcard = (params: unknown) => String((params as Record<string, string>)['*'] ?? '');
/** What a read is authorized on: `<path>/versions` reads the versions of `<path>`. */
const secretPath = (params: unknown) => wildcard(params).replace(/\/versions$/, '');
