import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasScope, type Identity, type Permission, type Scope } from '../lib/access';
import { ApiError } from '../lib/errors';
import { hashToken } from '../lib/random';
import type { Stores } from '../store';

/**
 * What a route demands. Every route declares one (a route without it fails at startup), so the whole
 * authorization table is the set of route declarations, and no route ships unguarded.
 */
export type Access =
  | { public: true }
  | { scope: Scope; permission?: Permission; path?: (request: FastifyRequest) => string };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    identity: Identity;
  }
}

export interface Authorizer {
  /** Whether the identity's bound policies grant `permission` on `path`. Admins pass without policies. */
  allows(identity: Identity, permission: Permission, path: string): Promise<boolean>;
}

/** Until policies are configured, only admins pass path checks. */
export const adminOnlyPaths: Authorizer = { allows: async () => false };

export function registerAuth(app: FastifyInstance, stores: Stores, authorizer: Authorizer) {
  app.decorateRequest('identity', null as unknown as Identity);

  app.addHook('onRoute', (route) => {
    if (!route.config?.access && !route.url.startsWith('/documentation')) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule`);
    }
  });

  app.addHook('preHandler', async (request) => {
    const access = request.routeOptions.config.access;
    if (!access) return; // fastify's own 404 handler
    if ('public' in access) return;
    request.identity = await authenticate(stores, request.headers.authorization);
    if (!hasScope(request.identity, access.scope)) {
      throw new ApiError('forbidden', `this route needs the ${access.scope} scope`);
    }
    if (access.permission && access.path && !request.identity.scopes.includes('admin')) {
      const path = access.path(request);
      if (!(await authorizer.allows(request.identity, access.permission, path))) {
        throw new ApiError('forbidden', `no policy grants ${access.permission} on ${path}`);
      }
    }
  });
}

export async function authenticate(stores: Stores, header: string | undefined): Promise<Identity> {
  const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) throw new ApiError('unauthorized', 'missing bearer token: send "Authorization: Bearer <token>"');
  const record = await stores.tokens.findLive(hashToken(token));
  if (!record) throw new ApiError('unauthorized', 'invalid or expired token');
  return { identity_id: record.identity_id, token_id: record.token_id, scopes: record.scopes as Scope[], policies: record.policies };
}
