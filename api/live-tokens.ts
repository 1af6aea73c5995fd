import type { TokenRecord } from '../store/tokens';

/** How long a token found live is trusted without asking the store again. */
export const DEFAULT_TOKEN_CACHE_MS = 1000;
const MAX_ENTRIES = 10_000;

export type FindLiveToken = (tokenHash: string) => Promise<TokenRecord | undefined>;

/**
 * Live-token lookups remembered for `ttlMs`: a busy caller costs the store one query a second instead of one
 * per request. What this instance revokes or deletes is forgotten at once; what another API instance
 * revokes reaches this one within `ttlMs`. Only tokens found live are remembered (an unknown token always
 * asks the store), and a token's policies are read per request, so policy changes apply at once.
 * `ttlMs: 0` asks the store every time.
 */
export class LiveTokens {
  private readonly remembered = new Map<string, { record: TokenRecord; until: number }>();

  constructor(
    private readonly lookup: FindLiveToken,
    private readonly ttlMs = DEFAULT_TOKEN_CACHE_MS,
    private readonly now = () => Date.now(),
  ) {}

  readonly find: FindLiveToken = async (tokenHash) => {
    const at = this.now();
    const hit = this.remembered.get(tokenHash);
    if (hit && hit.until > at && (hit.record.expires_at === null || hit.record.expires_at.getTime() > at))
      return hit.record;
    this.remembered.delete(tokenHash);
    const record = await this.lookup(tokenHash);
    if (record && this.ttlMs > 0) {
      if (this.remembered.size >= MAX_ENTRIES) this.remembered.delete(this.remembered.keys().next().value!);
      this.remembered.set(tokenHash, { record, until: at + this.ttlMs });
    }
    return record;
  };

  forgetToken(tokenId: string): void {
    this.forget((r) => r.token_id === tokenId);
  }

  forgetIdentity(identityId: string): void {
    this.forget((r) => r.identity_id === identityId);
  }

  private forget(matches: (record: TokenRecord) => boolean) {
    for (const [hash, { record }] of this.remembered) if (matches(record)) this.remembered.delete(hash);
  }
}
