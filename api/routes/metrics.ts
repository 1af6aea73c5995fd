import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';

/**
 * `GET /metrics`, Prometheus text. It needs a token, as Vault's /v1/sys/metrics does: lease counts by engine
 * and role tell an outsider what databases exist and how they are used. The scope is `audit:read`, the
 * contract's read-only scope that already sees all of this (every lease action is in the audit log), so a
 * scraper's token can read and never change anything; `admin` passes too. Prometheus sends it with
 * `authorization: { credentials_file: ... }` in its scrape config.
 */
export const metricsRoutes =
  (registry: Registry): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/metrics', { config: { access: { scope: 'audit:read' } } }, async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    });
  };
