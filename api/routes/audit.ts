import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, auditPage, auditVerdict } from '../responses';
import { parseDuration } from '../../lib/duration';
import { MAX_AUDIT_PAGE, type AuditService } from '../services/audit';
import { identitySchema } from './policies';

/** An RFC 3339 instant, or a duration meaning that long ago ("1h"). */
const instantSchema = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const seconds = /^\d+$/.test(value) ? undefined : parseDuration(value);
    if (seconds !== undefined) return new Date(Date.now() - seconds * 1000);
    if (z.iso.datetime({ offset: true }).safeParse(value).success) return new Date(value);
    ctx.addIssue({
      code: 'custom',
      message: 'must be an RFC 3339 instant such as 2026-05-17T13:00:00Z, or a duration ago such as "1h"',
    });
    return z.NEVER;
  });

const querySchema = z.object({
  action: z
    .string()
    .regex(/^[a-z_]{1,64}$/, 'must be an action name such as dynamic_generate')
    .optional(),
  identity_id: identitySchema.optional(),
  since: instantSchema.optional(),
  until: instantSchema.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, 'is not a cursor from next_cursor')
    .optional(),
});

export const auditRoutes =
  (audit: AuditService): FastifyPluginAsyncZod =>
  async (app) => {
    const read = { access: { scope: 'audit:read' as const } };

    app.get(
      '/v1/audit',
      { schema: { querystring: querySchema, response: answers({ 200: auditPage }) }, config: read },
      async (request) => audit.query(request.query),
    );

    app.get('/v1/audit/verify', { schema: { response: answers({ 200: auditVerdict }) }, config: read }, async () =>
      audit.verify(),
    );
  };
