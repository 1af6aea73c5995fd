import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasScope, isAdmin, type Identity, type Permission, type Scope } from '../lib/access';
import { ApiError } from '../lib/errors';
import { hashToken } from '../lib/random';
import type { Stores } from '../store';
import type { AuditEntry } from '../store/audit';
import { AuthFailureAudit } from './auth-failure-audit';
import { DEFAULT_FAILURE_LIMIT, FailureLimiter, type FailureLimit } from './failure-limiter';
import type { FindLiveToken } from './live-tokens';

/** The resource a route acts on: its policy path and, for a lease, the identity that created it. */
export type Resource = string | { path: string; owner_id: string };

/**
 * What a route demands. Every route declares one (a route without it fails at startup), so the whole
 * authorization table is the set of route declarations, and no route ships unguarded.
 * `authenticated` routes take any live token and decide in the service (whoami, revoking one's own token).
 */
export type Access =
  | { public: true }
  | { authenticated: true }
  | { scope: Scope; permission?: Permission; path?: (request: FastifyRequest) => Resource | Promise<Resource> };

export interface RouteAccess {
  method: string;
  url: string;
  access: Access;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    identity: Identity;
  }
  interface FastifyInstance {
    /** Every route with its access rule, as declared: the authorization table. */
    accessTable: RouteAccess[];
  }
}

export interface Authorizer {
  /** Whether the identity's policies grant `permission` on `path`. Admins pass without policies. */
  allows(identity: Identity, permission: Permission, path: string): Promise<boolean>;
  /** Whether they grant `permission` on every path a pattern matches (and deny none of them). */
  allowsAll(identity: Identity, permission: Permission, pattern: string): Promise<boolean>;
  /** Whether a policy in force denies the path outright. */
  denies(identity: Identity, path: string): Promise<boolean>;
}

export const ANONYMOUS = 'anonymous';

export function registerAuth(
  app: FastifyInstance,
  stores: Pick<Stores, 'audit'>,
  authorizer: Authorizer,
  findLiveToken: FindLiveToken,
  failureLimit?: FailureLimit,
) {
  const limiter = new FailureLimiter(failureLimit);
  const failureAudit = new AuthFailureAudit(
    (entry) => stores.audit.append(entry),
    failureLimit?.windowMs ?? DEFAULT_FAILURE_LIMIT.windowMs,
  );
  app.addHook('onClose', () => failureAudit.flush());
  app.decorateRequest('identity', null as unknown as Identity);
  app.decorate('accessTable', [] as RouteAccess[]);

  app.addHook('onRoute', (route) => {
    if (!route.config?.access && !route.url.startsWith('/documentation')) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule`);
    }
    for (const method of [route.method].flat())
      app.accessTable.push({ method, url: route.url, access: route.config!.access! });
  });

  const refuse = async (
    request: FastifyRequest,
    error: ApiError,
    identityId: string,
    path: string,
    extra: Record<string, unknown>,
  ) => {
    await stores.audit.append(failureEntry(request, error, identityId, path, extra));
    return error;
  };

  // onRequest, before the body is read or validated: an unauthenticated caller learns nothing from a 400.
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (!access || 'public' in access) return; // no access: fastify's own 404 handler
    const urlPath = request.url.split('?')[0]!;
    try {
      request.identity = await authenticate(findLiveToken, request.headers.authorization);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // Only failures are limited: a valid token is never refused for what others sent from its address.
      const wait = limiter.retryAfter(request.ip);
      limiter.record(request.ip);
      await failureAudit.record(request.ip, failureEntry(request, error, ANONYMOUS, urlPath, {}));
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new ApiError('rate_limited', `too many failed authentications from this address; retry in ${wait}s`);
      }
      throw error;
    }
    if ('authenticated' in access) return;
    const identity = request.identity;
    if (!hasScope(identity, access.scope)) {
      const error = new ApiError('forbidden', `this route needs the ${access.scope} scope`);
      throw await refuse(request, error, identity.identity_id, urlPath, { scope: access.scope });
    }
    if (!access.permission || !access.path || isAdmin(identity)) return;
    const resource = await access.path(request);
    const { path, owner_id } = typeof resource === 'string' ? { path: resource, owner_id: undefined } : resource;
    // A lease's creator may renew and revoke it without a grant, but not past a deny.
    if (owner_id === identity.identity_id && !(await authorizer.denies(identity, path))) return;
    if (!(await authorizer.allows(identity, access.permission, path))) {
      const error = new ApiError('forbidden', `no policy grants ${access.permission} on ${path}`);
      throw await refuse(request, error, identity.identity_id, path, { permission: access.permission });
    }
  });
}

const failureEntry = (
  request: FastifyRequest,
  error: ApiError,
  identityId: string,
  path: string,
  extra: Record<string, unknown>,
): AuditEntry => ({
  identity_id: identityId,
  action: 'auth_fail',
  path,
  result: 'failure',
  extra_data: {
    status: error.status,
    reason: error.message,
    method: request.method,
    remote_address: request.ip,
    ...extra,
  },
});

export async function authenticate(findLiveToken: FindLiveToken, header: string | undefined): Promise<Identity> {
  const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) throw new ApiError('unauthorized', 'missing bearer token: send "Authorization: Bearer <token>"');
  const record = await findLiveToken(hashToken(token));
  if (!record) throw new ApiError('unauthorized', 'invalid or expired token');
  return {
    identity_id: record.identity_id,
    token_id: record.token_id,
    scopes: record.scopes as Scope[],
    policies: record.policies,
  };
}
