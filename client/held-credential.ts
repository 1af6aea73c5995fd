import { EventEmitter } from 'node:events';
import { ScaiVaultError, type Credentials, type ScaiVaultClient } from './index';

/** The API answers that mean "this lease will not be renewed again": get a new one. */
const NOT_RENEWABLE = new Set(['max_ttl_exceeded', 'conflict', 'not_found']);

export interface HeldCredentialOptions {
  client: Pick<ScaiVaultClient, 'generateCredentials' | 'renewLease' | 'revokeLease'>;
  engine: string;
  role: string;
  /** The TTL asked for at issue, and the increment of each renewal (the role's default when unset). */
  ttl?: string;
  /** Renew when this share of the lease's duration is left (default a third). */
  renewAtRemaining?: number;
  /** Up to this share of the wait is taken off at random, so many holders do not renew at once (default 0.1). */
  jitter?: number;
  /** How long a replaced credential stays alive for queries still using it before it is revoked (default 30 s). */
  graceMs?: number;
}

export interface HeldCredentialEvents {
  renewed: [credential: Credentials];
  /** A new lease replaced the old one (past its max TTL, or gone); the old is revoked after the grace period. */
  rotated: [credential: Credentials, previous: Credentials];
  error: [error: Error];
}

/**
 * A credential held for as long as a service runs, as Vault's lifetime watcher holds one: renewed when a
 * third of its TTL is left, replaced by a fresh lease when renewal is refused (max TTL reached, lease
 * revoked), the replaced one revoked after a grace period. Failed renewals are retried until the lease
 * runs out; a credential that expires unrenewed is replaced.
 */
export class HeldCredential extends EventEmitter<HeldCredentialEvents> {
  private timer: NodeJS.Timeout | undefined;
  private readonly retiring = new Set<NodeJS.Timeout>();
  private readonly replaced: Credentials[] = [];
  private stopped = false;

  private constructor(
    private readonly options: HeldCredentialOptions,
    private held: Credentials,
  ) {
    super();
    this.schedule();
  }

  /** Issues the first credential; rejects (nothing left behind) when the API refuses. */
  static async acquire(options: HeldCredentialOptions): Promise<HeldCredential> {
    return new HeldCredential(options, await HeldCredential.issue(options));
  }

  /** The credential to use now. */
  get current(): Credentials {
    return this.held;
  }

  /**
   * Stops renewing; with `revoke` (the default) revokes the current lease and any still in their grace
   * period. `wait: false` answers once the revocations are durably requested (for shutdown hooks).
   */
  async stop({ revoke = true, wait = true }: { revoke?: boolean; wait?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const timer of this.retiring) clearTimeout(timer);
    this.retiring.clear();
    if (!revoke) return;
    const leases = [this.held, ...this.replaced.splice(0)];
    await Promise.all(
      leases.map((l) =>
        this.options.client.revokeLease(l.lease_id, { wait }).catch((error: Error) => this.fail(error)),
      ),
    );
  }

  private static issue(options: HeldCredentialOptions): Promise<Credentials> {
    return options.client.generateCredentials(options.engine, options.role, options.ttl ? { ttl: options.ttl } : {});
  }

  /** When to renew: once `renewAtRemaining` of the lease's duration is left, less some jitter. */
  private delayUntilRenewal(): number {
    const remainingMs = Date.parse(this.held.expires_at) - Date.now();
    const share = this.options.renewAtRemaining ?? 1 / 3;
    const waitMs = remainingMs - this.held.lease_duration * 1000 * share;
    return Math.max(0, waitMs * (1 - Math.random() * (this.options.jitter ?? 0.1)));
  }

  private schedule(delayMs = this.delayUntilRenewal()): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(), delayMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    try {
      const renewed = await this.options.client.renewLease(this.held.lease_id, this.options.ttl);
      if (this.stopped) return;
      this.held = { ...this.held, expires_at: renewed.expires_at, lease_duration: renewed.lease_duration };
      this.emit('renewed', this.held);
      this.schedule();
    } catch (error) {
      if (this.stopped) return;
      const expired = Date.parse(this.held.expires_at) <= Date.now();
      if ((error instanceof ScaiVaultError && NOT_RENEWABLE.has(error.code)) || expired) return this.replace();
      this.fail(error as Error);
      // The API or the database is away: try again soon, well before the lease runs out.
      const remainingMs = Date.parse(this.held.expires_at) - Date.now();
      this.schedule(Math.min(30_000, Math.max(1_000, remainingMs / 10)));
    }
  }

  private async replace(): Promise<void> {
    let next: Credentials;
    try {
      next = await HeldCredential.issue(this.options);
    } catch (error) {
      this.fail(error as Error);
      return this.schedule(5_000);
    }
    if (this.stopped) {
      await this.options.client.revokeLease(next.lease_id).catch(() => {});
      return;
    }
    const previous = this.held;
    this.held = next;
    this.replaced.push(previous);
    this.emit('rotated', next, previous);
    const retire = setTimeout(() => {
      this.retiring.delete(retire);
      this.replaced.splice(this.replaced.indexOf(previous), 1);
      void this.options.client.revokeLease(previous.lease_id).catch((error: Error) => this.fail(error));
    }, this.options.graceMs ?? 30_000);
    retire.unref();
    this.retiring.add(retire);
    this.schedule();
  }

  private fail(error: Error): void {
    // Without a listener an 'error' event throws; a held credential's trouble must not end the process.
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
