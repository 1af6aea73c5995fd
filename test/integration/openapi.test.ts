import { describe, expect, it } from 'vitest';
import type { RouteAccess } from '../../api/auth';
import { buildServer } from '../../api/server';
import { withGuideStack, type GuideContext } from '../support/guide';

/** What this test reads of an operation in the document. */
interface Operation {
  parameters: { name: string }[];
  requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } };
  responses: Record<string, { content: { 'application/json': { schema: { required?: string[] } } } }>;
}

/** GET /v1/sys/openapi.json: the contract as OpenAPI 3.1, made from the routes' own zod schemas. */
let c: GuideContext;
withGuideStack({ withGrantOption: true }, (context) => (c = context));

describe('the OpenAPI document', () => {
  it('is public, OpenAPI 3.1, and describes every route with its parameters, body and answers', async () => {
    const response = await fetch(`${c.stack.baseUrl}/v1/sys/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });

    const app = await buildServer({
      stores: c.stack.stores,
      temporal: c.stack.temporal,
      taskQueue: c.stack.taskQueue,
      masterKeys: c.stack.masterKeys,
      logLevel: 'silent',
    });
    try {
      await app.ready();
      const routes = (app as unknown as { accessTable: RouteAccess[] }).accessTable.filter(
        (r) => r.method !== 'HEAD' && !['/metrics', '/v1/sys/openapi.json', '/v1/sys/codec/session'].includes(r.url),
      );
      const missing: string[] = [];
      for (const route of routes) {
        const openApiPath = route.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}');
        const operation = doc.paths[openApiPath]?.[route.method.toLowerCase()];
        if (!operation) {
          missing.push(`${route.method} ${route.url}: not documented`);
          continue;
        }
        const answers = Object.keys(operation.responses ?? {});
        if (!answers.some((s) => /^2\d\d$/.test(s))) missing.push(`${route.method} ${route.url}: no success answer`);
        for (const status of ['400', '401', '403', '404', '500', '503'])
          if (!answers.includes(status)) missing.push(`${route.method} ${route.url}: no ${status}`);
      }
      expect(missing).toEqual([]);
    } finally {
      await app.close();
    }

    const creds = doc.paths['/v1/dynamic/engines/{engine}/creds/{role}']!.post!;
    expect(creds.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['engine', 'role']);
    expect(Object.keys(creds.requestBody.content['application/json'].schema.properties).sort()).toEqual([
      'metadata',
      'ttl',
    ]);
    const issued = creds.responses['200']!.content['application/json'].schema;
    expect(issued.required).toEqual(expect.arrayContaining(['lease_id', 'lease_duration', 'expires_at', 'data']));
    expect(doc.paths['/v1/dynamic/leases']!.get!.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'cursor', 'engine']),
    );
  });

  it("checks every answer against its route's schema: what the API says is what the document says", async () => {
    // A lease through its life, as the client types describe it.
    const minted = await c.stack.call('POST', `/v1/dynamic/engines/${c.engine}/creds/readonly`, {});
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    for (const [method, url] of [
      ['GET', `/v1/dynamic/leases/${minted.body.lease_id}`],
      ['POST', `/v1/dynamic/leases/${minted.body.lease_id}/renew`],
      ['GET', '/v1/dynamic/leases'],
      ['GET', `/v1/dynamic/engines/${c.engine}`],
      ['GET', `/v1/dynamic/engines/${c.engine}/roles`],
      ['GET', '/v1/policies'],
      ['GET', '/v1/audit'],
      ['GET', '/v1/audit/verify'],
      ['GET', '/v1/auth/whoami'],
      ['GET', '/v1/secret-policies'],
    ] as const) {
      const { status, body } = await c.stack.call(method, url, method === 'POST' ? {} : undefined);
      expect(status, `${method} ${url}: ${JSON.stringify(body)}`).toBe(200);
    }
  });
});
