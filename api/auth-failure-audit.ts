import type { AuditEntry } from '../store/audit';

/**
 * Failed authentications, audited without letting a flood of them write a row each: per source address,
 * the first failure of a window is written at once, in full; the others of that window are counted and
 * written as one `auth_fail` entry (`aggregated: true`, the count, the first and last time) when the
 * window closes or the API stops.
 */
const MAX_WINDOWS = 10_000;
const OVERFLOW = '(other addresses)';

export class AuthFailureAudit {
  private readonly windows = new Map<
    string,
    { count: number; first: string; last: string; sample: AuditEntry; timer: NodeJS.Timeout }
  >();

  constructor(
    private readonly append: (entry: AuditEntry) => Promise<void>,
    private readonly windowMs: number,
  ) {}

  async record(address: string, entry: AuditEntry): Promise<void> {
    // Past MAX_WINDOWS addresses at once (a spread-out flood), the rest share one window: memory stays bounded.
    const source = this.windows.has(address) || this.windows.size < MAX_WINDOWS ? address : OVERFLOW;
    const open = this.windows.get(source);
    if (open) {
      open.count++;
      open.last = new Date().toISOString();
      return;
    }
    const timer = setTimeout(() => void this.close(source), this.windowMs).unref();
    const now = new Date().toISOString();
    this.windows.set(source, { count: 0, first: now, last: now, sample: entry, timer });
    await this.append(entry);
  }

  /** Writes what the open windows counted. */
  async flush(): Promise<void> {
    await Promise.all([...this.windows.keys()].map((source) => this.close(source)));
  }

  private async close(source: string): Promise<void> {
    const window = this.windows.get(source);
    if (!window) return;
    this.windows.delete(source);
    clearTimeout(window.timer);
    if (window.count === 0) return;
    const { sample } = window;
    await this.append({
      identity_id: sample.identity_id,
      action: sample.action,
      path: sample.path,
      result: 'failure',
      extra_data: {
        aggregated: true,
        count: window.count,
        first_at: window.first,
        last_at: window.last,
        window_seconds: Math.round(this.windowMs / 1000),
        remote_address: source === OVERFLOW ? OVERFLOW : sample.extra_data?.remote_address,
        reason: 'further failed authentications from this address in the window (the first is audited on its own)',
      },
    }).catch(() => {});
  }
}
