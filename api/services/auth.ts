import { isAdmin, ROOT_IDENTITY, type Identity, type Scope } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import { hashToken, newId, newToken } from '../../lib/random';
import type { Stores } from '../../store';
import type { LiveTokens } from '../live-tokens';
import { auditEntry } from './audit-entry';

export interface TokenRequest {
  identity_id: string;
  scopes: Scope[];
  policies: string[];
  ttl?: number;
}

export function createAuthService(
  stores: Pick<Stores, 'audited' | 'identities' | 'policies' | 'tokens'>,
  liveTokens: Pick<LiveTokens, 'forgetToken' | 'forgetIdentity'>,
) {
  return {
    /** The token is in this response only; the store keeps its hash. */
    async mint(actor: Identity, request: TokenRequest) {
      const missing = await stores.policies.missing(request.policies);
      if (missing.length) throw new ApiError('invalid_request', `no policy with id ${missing.join(', ')}`, { missing });
      const scopes = [...new Set(request.scopes)];
      const token = newToken();
      const tokenId = newId('tok');
      const expiresAt = request.ttl === undefined ? null : new Date(Date.now() + request.ttl * 1000);
      await stores.audited(
        async (tx) => {
          await stores.identities.within(tx).ensure(request.identity_id);
          await stores.tokens.within(tx).create({
            token_id: tokenId,
            token_hash: hashToken(token),
            identity_id: request.identity_id,
            scopes,
            policies: request.policies,
            expires_at: expiresAt,
          });
        },
        auditEntry(actor, 'token_create', `auth/tokens/${tokenId}`, {
          token_id: tokenId,
          for_identity_id: request.identity_id,
          scopes,
          policies: request.policies,
          expires_at: expiresAt?.toISOString() ?? null,
        }),
      );
      return {
        token,
        token_id: tokenId,
        identity_id: request.identity_id,
        scopes,
        policies: request.policies,
        expires_at: expiresAt?.toISOString() ?? null,
      };
    },

    async whoami(identity: Identity) {
      const inForce = await stores.policies.inForce(identity.policies, identity.identity_id);
      return {
        identity_id: identity.identity_id,
        token_id: identity.token_id,
        scopes: identity.scopes,
        policies: inForce.map((p) => p.id),
      };
    },

    /** Admins revoke any token; others only their own identity's. Revoking twice is fine. */
    async revokeToken(actor: Identity, tokenId: string) {
      const owner = await stores.identities.tokenOwner(tokenId);
      if (!isAdmin(actor) && owner !== actor.identity_id)
        throw new ApiError('forbidden', "only an admin may revoke another identity's token");
      if (!owner) throw notFound(`token ${tokenId}`);
      await stores.audited(
        (tx) => stores.tokens.within(tx).revoke(tokenId),
        (revoked) =>
          revoked
            ? auditEntry(actor, 'token_revoke', `auth/tokens/${tokenId}`, { token_id: tokenId, for_identity_id: owner })
            : undefined,
      );
      liveTokens.forgetToken(tokenId);
    },

    /** Revokes every token of the identity and drops its policy bindings; its tokens then get 401. */
    async deleteIdentity(actor: Identity, identityId: string) {
      if (identityId === ROOT_IDENTITY) throw new ApiError('conflict', 'the root identity cannot be deleted');
      const deleted = await stores.audited(
        (tx) => stores.identities.within(tx).delete(identityId),
        (done) =>
          done
            ? auditEntry(actor, 'identity_delete', `auth/identities/${identityId}`, { for_identity_id: identityId })
            : undefined,
      );
      liveTokens.forgetIdentity(identityId);
      if (!deleted) throw notFound(`identity ${identityId}`);
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
