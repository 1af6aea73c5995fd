/**
 * Counts failed authentications per source over a sliding window. In memory, per API process: it slows
 * guessing from one address; it is not a distributed quota. (@fastify/rate-limit counts every request,
 * not only failures, so it does not fit here.)
 */
export interface FailureLimit {
  max: number;
  windowMs: number;
}

export const DEFAULT_FAILURE_LIMIT: FailureLimit = { max: 100, windowMs: 60_000 };
const MAX_SOURCES = 10_000;

export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: FailureLimit = DEFAULT_FAILURE_LIMIT,
    private readonly now = Date.now,
  ) {}

  /** Seconds until the source may try again, or 0 when it is not blocked. */
  retryAfter(source: string): number {
    const recent = this.recent(source);
    if (recent.length < this.limit.max) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.limit.windowMs - this.now()) / 1000));
  }

  record(source: string): void {
    const recent = this.recent(source);
    recent.push(this.now());
    if (recent.length > this.limit.max) recent.shift();
    this.failures.delete(source); // re-insert: the map's order is then least recently failed first
    this.failures.set(source, recent);
    if (this.failures.size > MAX_SOURCES) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(source: string): number[] {
    const since = this.now() - this.limit.windowMs;
    const kept = (this.failures.get(source) ?? []).filter((t) => t > since);
    if (kept.length) this.failures.set(source, kept);
    else this.failures.delete(source);
    return kept;
  }
}
