import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, mintedToken, noContent, whoami } from '../responses';
import { SCOPES } from '../../lib/access';
import type { AuthService } from '../services/auth';
import { durationSchema } from '../schemas';
import { identitySchema, policyIdSchema } from './policies';

const tokenBody = z.object({
  identity_id: identitySchema,
  scopes: z
    .array(z.enum(SCOPES))
    .min(1)
    .max(SCOPES.length * 2),
  policies: z.array(policyIdSchema).max(64).default([]),
  ttl: durationSchema.refine((seconds) => seconds > 0, 'must be at least 1 second').optional(),
});

export const authRoutes =
  (auth: AuthService): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/auth/tokens',
      { schema: { body: tokenBody, response: answers({ 201: mintedToken }) }, config: { access: { scope: 'admin' } } },
      async (request, reply) => reply.status(201).send(await auth.mint(request.identity, request.body)),
    );

    app.get(
      '/v1/auth/whoami',
      { schema: { response: answers({ 200: whoami }) }, config: { access: { authenticated: true } } },
      async (request) => auth.whoami(request.identity),
    );

    app.delete(
      '/v1/auth/tokens/:token_id',
      {
        schema: { params: z.object({ token_id: z.string().min(1).max(128) }), response: answers({ 204: noContent }) },
        config: { access: { authenticated: true } },
      },
      async (request, reply) => {
        await auth.revokeToken(request.identity, request.params.token_id);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/v1/auth/identities/:identity_id',
      {
        schema: { params: z.object({ identity_id: identitySchema }), response: answers({ 204: noContent }) },
        config: { access: { scope: 'admin' } },
      },
      async (request, reply) => {
        await auth.deleteIdentity(request.identity, request.params.identity_id);
        return reply.status(204).send(null);
      },
    );
  };
