import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  answers,
  assignment,
  createdWebhook,
  deliveryPage,
  noContent,
  rotationPolicyPage,
  rotationPolicyResponse,
  rotationResponse,
  rotationStatus,
  secretPolicyPage,
  secretPolicyResponse,
  webhookPage,
  webhookResponse,
} from '../responses';
import { pageOf, pageQuerySchema } from '../../lib/pagination';
import { patternProblem } from '../../lib/path-pattern';
import type { RotationService } from '../services/rotation';
import type { WebhookService } from '../services/webhooks';
import {
  chosenIdSchema as chosenId,
  durationSchema,
  idSchema as idParam,
  policyNameSchema,
  secretPathSchema,
} from '../schemas';

const minimum = z.number().int().min(0).max(256).optional();

const secretPolicyBody = z.object({
  id: chosenId('sp').optional(),
  name: policyNameSchema,
  length: z.number().int().min(8).max(256),
  charset: z.string().min(2).max(256).optional(),
  min_digits: minimum,
  min_lowercase: minimum,
  min_uppercase: minimum,
  min_symbols: minimum,
});
const rotationPolicyBody = z.object({
  id: chosenId('rot').optional(),
  name: policyNameSchema,
  interval: durationSchema,
  grace_period: durationSchema,
  auto_generate: z.boolean(),
  secret_policy_id: idParam('sp'),
});
const webhookBody = z.object({
  url: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'must be an http or https URL'),
  events: z
    .array(z.enum(['secret.rotated']))
    .min(1)
    .max(8),
  path_pattern: z
    .string()
    .superRefine((pattern, ctx) => {
      const problem = patternProblem(pattern);
      if (problem) ctx.addIssue({ code: 'custom', message: `path_pattern ${problem}` });
    })
    .optional(),
});

const manage = { access: { scope: 'rotation:manage' as const } };
const wildcard = (params: unknown) => String((params as Record<string, string>)['*'] ?? '');
const ROTATE_SUFFIX = '/rotate';

export const rotationRoutes =
  (rotation: RotationService, webhooks: WebhookService): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/secret-policies',
      { schema: { body: secretPolicyBody, response: answers({ 201: secretPolicyResponse }) }, config: manage },
      async (request, reply) =>
        reply.status(201).send(await rotation.createSecretPolicy(request.identity, request.body)),
    );
    app.get(
      '/v1/secret-policies',
      { schema: { querystring: pageQuerySchema, response: answers({ 200: secretPolicyPage }) }, config: manage },
      async (request) => pageOf(await rotation.listSecretPolicies(), (p) => p.name, request.query),
    );
    app.get(
      '/v1/secret-policies/:id',
      {
        schema: { params: z.object({ id: idParam('sp') }), response: answers({ 200: secretPolicyResponse }) },
        config: manage,
      },
      async (request) => rotation.getSecretPolicy(request.params.id),
    );

    const policyParams = z.object({ id: idParam('rot') });
    app.post(
      '/v1/rotation/policies',
      { schema: { body: rotationPolicyBody, response: answers({ 201: rotationPolicyResponse }) }, config: manage },
      async (request, reply) => reply.status(201).send(await rotation.createPolicy(request.identity, request.body)),
    );
    app.get(
      '/v1/rotation/policies',
      { schema: { querystring: pageQuerySchema, response: answers({ 200: rotationPolicyPage }) }, config: manage },
      async (request) => pageOf(await rotation.listPolicies(), (p) => p.name, request.query),
    );
    app.get(
      '/v1/rotation/policies/:id',
      { schema: { params: policyParams, response: answers({ 200: rotationPolicyResponse }) }, config: manage },
      async (request) => rotation.getPolicy(request.params.id),
    );
    app.post(
      '/v1/rotation/policies/:id/secrets',
      {
        schema: {
          params: policyParams,
          body: z.object({ secret_path: secretPathSchema }),
          response: answers({ 200: assignment }),
        },
        config: manage, // the body's secret is checked for `rotate` in the service
      },
      async (request) => rotation.assign(request.identity, request.params.id, request.body.secret_path),
    );

    app.get(
      '/v1/rotation/secrets/*',
      {
        schema: { params: z.object({ '*': secretPathSchema }), response: answers({ 200: rotationStatus }) },
        config: { access: { scope: 'rotation:manage', permission: 'read', path: (r) => wildcard(r.params) } },
      },
      async (request) => rotation.status(request.params['*']),
    );

    app.post(
      '/v1/rotation/secrets/*',
      {
        schema: { params: z.object({ '*': secretPathSchema }), response: answers({ 202: rotationResponse }) },
        config: {
          access: {
            scope: 'rotation:manage',
            permission: 'rotate',
            path: (r) => wildcard(r.params).replace(/\/rotate$/, ''),
          },
        },
      },
      async (request, reply) => {
        const path = request.params['*'];
        if (!path.endsWith(ROTATE_SUFFIX)) return reply.callNotFound();
        return reply.status(202).send(await rotation.rotateNow(request.identity, path.slice(0, -ROTATE_SUFFIX.length)));
      },
    );

    const rotationParams = z.object({ rotation_id: idParam('rtn') });
    const byRotation = (permission: 'rotate' | 'read') => ({
      access: {
        scope: 'rotation:manage' as const,
        permission,
        path: (r: { params: unknown }) =>
          rotation.rotationPath(String((r.params as { rotation_id?: string }).rotation_id)),
      },
    });
    app.post(
      '/v1/rotation/rotations/:rotation_id/confirm',
      {
        schema: { params: rotationParams, response: answers({ 200: rotationResponse }) },
        config: byRotation('rotate'),
      },
      async (request) => rotation.confirm(request.identity, request.params.rotation_id),
    );

    const webhookParams = z.object({ id: idParam('wh') });
    // Each webhook is checked against its path_pattern in the service.
    app.post(
      '/v1/webhooks',
      { schema: { body: webhookBody, response: answers({ 201: createdWebhook }) }, config: manage },
      async (request, reply) => reply.status(201).send(await webhooks.create(request.identity, request.body)),
    );
    app.get(
      '/v1/webhooks',
      { schema: { querystring: pageQuerySchema, response: answers({ 200: webhookPage }) }, config: manage },
      async (request) => pageOf(await webhooks.list(request.identity), (w) => w.id, request.query),
    );
    app.get(
      '/v1/webhooks/:id',
      { schema: { params: webhookParams, response: answers({ 200: webhookResponse }) }, config: manage },
      async (request) => webhooks.get(request.identity, request.params.id),
    );
    app.delete(
      '/v1/webhooks/:id',
      { schema: { params: webhookParams, response: answers({ 204: noContent }) }, config: manage },
      async (request, reply) => {
        await webhooks.delete(request.identity, request.params.id);
        return reply.status(204).send(null);
      },
    );
    app.get(
      '/v1/webhooks/:id/deliveries',
      {
        schema: { params: webhookParams, querystring: pageQuerySchema, response: answers({ 200: deliveryPage }) },
        config: manage,
      },
      async (request) => webhooks.deliveries(request.identity, request.params.id, request.query),
    );
  };
