import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { answers, leasePage, leaseResponse, noContent, renewedLease, revokedPrefix, revokingLease } from '../responses';
import { credsPath, hasScope } from '../../lib/access';
import { ApiError } from '../../lib/errors';
import { LEASE_STATES, type LeaseState } from '../../lib/lease';
import type { Resource } from '../auth';
import type { ApiServices } from '../services';
import { leaseView } from '../services/leases';
import type { LeaseRecord } from '../../store/leases';
import { pageQuerySchema } from '../../lib/pagination';
import { durationSchema, idSchema, nameSchema } from '../schemas';

const leaseParams = z.object({ lease_id: idSchema('lease') });

export const leaseRoutes =
  (services: ApiServices): FastifyPluginAsyncZod =>
  async (app) => {
    /** The lease a request names, read once: authorization and the handler share the one read. */
    const read = new WeakMap<FastifyRequest, Promise<LeaseRecord>>();
    const leaseOf = (request: FastifyRequest) => {
      let lease = read.get(request);
      if (!lease) {
        lease = services.leases.mustGet(String((request.params as { lease_id?: unknown }).lease_id));
        read.set(request, lease);
      }
      return lease;
    };
    /** A lease's creds path and creator: the creator may renew and revoke it, others need the policy permission. */
    const leaseResource = async (request: FastifyRequest): Promise<Resource> => {
      const lease = await leaseOf(request);
      return { path: credsPath(lease.engine, lease.role), owner_id: lease.identity_id };
    };

    app.get(
      '/v1/dynamic/leases',
      {
        schema: {
          response: answers({ 200: leasePage }),
          querystring: pageQuerySchema.extend({
            engine: nameSchema.optional(),
            role: nameSchema.optional(),
            state: z.enum(LEASE_STATES as [LeaseState, ...LeaseState[]]).optional(),
          }),
        },
        // Filtered lease by lease: each is listed to whom its creds path grants `list`.
        config: { access: { scope: 'dynamic:manage' } },
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        return services.leases.list(request.identity, filter, { limit, cursor });
      },
    );

    app.get(
      '/v1/dynamic/leases/:lease_id',
      {
        schema: { params: leaseParams, response: answers({ 200: leaseResponse }) },
        config: { access: { scope: 'dynamic:manage', permission: 'read', path: leaseResource } },
      },
      async (request) => leaseView(await leaseOf(request)),
    );

    app.post(
      '/v1/dynamic/leases/:lease_id/renew',
      {
        schema: {
          params: leaseParams,
          body: z.object({ increment: durationSchema.optional() }).default({}),
          response: answers({ 200: renewedLease }),
        },
        config: { access: { scope: 'dynamic:generate', permission: 'renew', path: leaseResource } },
      },
      async (request) => services.leases.renew(request.identity, await leaseOf(request), request.body.increment),
    );

    app.delete(
      '/v1/dynamic/leases/:lease_id',
      {
        schema: {
          params: leaseParams,
          querystring: z.object({
            force: z.enum(['true', 'false']).default('false'),
            wait: z.enum(['true', 'false']).default('true'),
          }),
          response: answers({ 202: revokingLease, 204: noContent }),
        },
        config: { access: { scope: 'dynamic:generate', permission: 'revoke', path: leaseResource } },
      },
      async (request, reply) => {
        if (request.query.force === 'true' && !hasScope(request.identity, 'dynamic:manage')) {
          throw new ApiError('forbidden', 'forcing a revocation (the role may remain) needs the dynamic:manage scope');
        }
        if (request.query.wait === 'false') {
          if (request.query.force === 'true')
            throw new ApiError(
              'invalid_request',
              'force and wait=false do not combine: a forced revocation answers once it ended',
            );
          const { lease, requested } = await services.leases.requestRevocation(
            request.identity,
            await leaseOf(request),
          );
          return requested ? reply.status(202).send(lease) : reply.status(204).send(null);
        }
        const { lease, complete } = await services.leases.revoke(
          request.identity,
          await leaseOf(request),
          request.query.force === 'true',
        );
        if (complete) return reply.status(204).send(null);
        // Accepted: the workflow keeps retrying until the role is gone; the lease says why it is not yet.
        return reply.status(202).send({
          ...lease,
          warnings: [`revocation is not complete yet and is being retried: ${lease.last_error ?? lease.state}`],
        });
      },
    );

    app.post(
      '/v1/dynamic/leases/revoke-prefix',
      {
        schema: {
          body: z.object({ engine: nameSchema, role: nameSchema.optional() }),
          response: answers({ 200: revokedPrefix }),
        },
        // Checked in the service against each live lease's creds path.
        config: { access: { scope: 'dynamic:manage' } },
      },
      async (request) => services.leases.revokePrefix(request.identity, request.body.engine, request.body.role),
    );
  };
