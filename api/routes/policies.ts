import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, binding, noContent, policyPage, policyResponse } from '../responses';
import { pageOf, pageQuerySchema } from '../../lib/pagination';
import { PERMISSIONS } from '../../lib/access';
import { patternProblem } from '../../lib/path-pattern';
import type { PolicyService } from '../services/policies';
import { idSchema, policyNameSchema } from '../schemas';

/** `svc:reporting`, `user:alice`, `system:dynamic-engines`, `root`. */
export const identitySchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,127}$/, 'must be 1-128 letters, digits, ":", "_", "-", ".", "@"');
export const policyIdSchema = idSchema('pol');

const ruleSchema = z.object({
  path_pattern: z.string().superRefine((pattern, ctx) => {
    const problem = patternProblem(pattern);
    if (problem)
      ctx.addIssue({ code: 'custom', message: `path_pattern ${JSON.stringify(pattern.slice(0, 64))} ${problem}` });
  }),
  permissions: z.array(z.enum(PERMISSIONS)).min(1).max(PERMISSIONS.length),
});
const policyBody = z.object({
  name: policyNameSchema,
  rules: z.array(ruleSchema).min(1).max(256),
});
const params = z.object({ id: policyIdSchema });

export const policyRoutes =
  (policies: PolicyService): FastifyPluginAsyncZod =>
  async (app) => {
    const manage = { access: { scope: 'policies:manage' as const } };

    app.post(
      '/v1/policies',
      { schema: { body: policyBody, response: answers({ 201: policyResponse }) }, config: manage },
      async (request, reply) => reply.status(201).send(await policies.create(request.identity, request.body)),
    );

    app.get(
      '/v1/policies',
      { schema: { querystring: pageQuerySchema, response: answers({ 200: policyPage }) }, config: manage },
      async (request) => pageOf(await policies.list(), (p) => p.name, request.query),
    );

    app.get(
      '/v1/policies/:id',
      { schema: { params, response: answers({ 200: policyResponse }) }, config: manage },
      async (request) => policies.get(request.params.id),
    );

    app.put(
      '/v1/policies/:id',
      { schema: { params, body: policyBody, response: answers({ 200: policyResponse }) }, config: manage },
      async (request) => policies.update(request.identity, request.params.id, request.body),
    );

    app.delete(
      '/v1/policies/:id',
      { schema: { params, response: answers({ 204: noContent }) }, config: manage },
      async (request, reply) => {
        await policies.delete(request.identity, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/policies/:id/bindings',
      {
        schema: { params, body: z.object({ identity_id: identitySchema }), response: answers({ 201: binding }) },
        config: manage,
      },
      async (request, reply) =>
        reply.status(201).send(await policies.bind(request.identity, request.params.id, request.body.identity_id)),
    );

    app.delete(
      '/v1/policies/:id/bindings/:identity_id',
      {
        schema: { params: params.extend({ identity_id: identitySchema }), response: answers({ 204: noContent }) },
        config: manage,
      },
      async (request, reply) => {
        await policies.unbind(request.identity, request.params.id, request.params.identity_id);
        return reply.status(204).send(null);
      },
    );
  };
