/** A small typed client for the ScaiVault HTTP API; the CLI is built on it. */
import type { z } from 'zod';
import type * as responses from '../api/responses';

export const DEFAULT_ADDRESS = 'http://127.0.0.1:8200';

/**
 * The API's answers, inferred from the very zod schemas its routes declare (api/responses.ts, which the
 * OpenAPI document at /v1/sys/openapi.json is made from): never written twice. Type-only: nothing of
 * the server is loaded at run time.
 */
type Answer<K extends keyof typeof responses> = z.infer<(typeof responses)[K]>;
export type Lease = Answer<'leaseResponse'>;
export type LeasePage = Answer<'leasePage'>;
export type RenewedLease = Answer<'renewedLease'>;
export type RevokingLease = Answer<'revokingLease'>;
export type Credentials = Answer<'credentials'>;
export type AuditEntry = Answer<'auditEntry'>;
export type AuditPage = Answer<'auditPage'>;
export type AuditVerdict = Answer<'auditVerdict'>;
export type WhoAmI = Answer<'whoami'>;
export type Secret = Answer<'secretResponse'>;
export type SecretWritten = Answer<'secretWritten'>;

/** The API's error, in its own words; `code` is `unreachable` when no answer came. */
export class ScaiVaultError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ScaiVaultError';
  }
}

type Query = Record<string, string | number | undefined>;

export class ScaiVaultClient {
  private readonly address: string;

  /** `token` may be a function, read at each call: a token file mounted from a Secret changes under a running agent. */
  constructor(
    address: string,
    private readonly token: string | (() => string),
  ) {
    this.address = address.replace(/\/+$/, '');
  }

  /** Calls a route; resolves to the parsed JSON body (undefined for 204), rejects with ScaiVaultError. */
  async request<T>(method: string, path: string, options: { body?: unknown; query?: Query } = {}): Promise<T> {
    const query = Object.entries(options.query ?? {}).filter(
      (e): e is [string, string | number] => e[1] !== undefined && e[1] !== '',
    );
    const url =
      `${this.address}${path}` +
      `${query.length ? `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)]))}` : ''}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${typeof this.token === 'function' ? this.token() : this.token}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ScaiVaultError(
        `cannot reach ScaiVault at ${this.address} (${cause?.code ?? cause?.message ?? String(error)})`,
        0,
        'unreachable',
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ScaiVaultError(
        `unexpected answer from ${this.address} (HTTP ${response.status}, not JSON)`,
        response.status,
        'invalid_response',
      );
    }
    if (!response.ok) {
      const error = (
        body as { error?: { code?: string; message?: string; request_id?: string; details?: unknown } } | undefined
      )?.error;
      throw new ScaiVaultError(
        error?.message ?? `HTTP ${response.status}`,
        response.status,
        error?.code ?? 'http_error',
        error?.request_id,
        error?.details,
      );
    }
    return body as T;
  }

  whoami = () => this.request<WhoAmI>('GET', '/v1/auth/whoami');

  /** One page of leases, newest first; pass `next_cursor` back as `cursor` for the next. */
  listLeases = (filter: { engine?: string; role?: string; state?: string; limit?: number; cursor?: string }) =>
    this.request<LeasePage>('GET', '/v1/dynamic/leases', { query: filter });

  /** Every lease the filter matches, following the pages. */
  async allLeases(filter: { engine?: string; role?: string; state?: string; pageSize?: number }): Promise<Lease[]> {
    const { pageSize, ...query } = filter;
    const leases: Lease[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listLeases({ ...query, limit: pageSize, cursor });
      leases.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return leases;
  }

  renewLease = (leaseId: string, increment?: string) =>
    this.request<RenewedLease>('POST', `/v1/dynamic/leases/${encodeURIComponent(leaseId)}/renew`, {
      body: increment === undefined ? {} : { increment },
    });

  /**
   * Undefined when the role is gone (204); the lease with a warning when revocation is still being retried
   * (202). With `wait: false` it answers (202) once the revocation is durably requested.
   */
  revokeLease = (leaseId: string, options: { force?: boolean; wait?: boolean } = {}) =>
    this.request<RevokingLease | undefined>('DELETE', `/v1/dynamic/leases/${encodeURIComponent(leaseId)}`, {
      query: { force: options.force ? 'true' : undefined, wait: options.wait === false ? 'false' : undefined },
    });

  generateCredentials = (engine: string, role: string, body: { ttl?: string }) =>
    this.request<Credentials>(
      'POST',
      `/v1/dynamic/engines/${encodeURIComponent(engine)}/creds/${encodeURIComponent(role)}`,
      { body },
    );

  queryAudit = (filter: {
    action?: string;
    identity_id?: string;
    since?: string;
    until?: string;
    limit?: number;
    cursor?: string;
  }) => this.request<AuditPage>('GET', '/v1/audit', { query: filter });

  verifyAudit = () => this.request<AuditVerdict>('GET', '/v1/audit/verify');

  getSecret = (path: string, version?: number) =>
    this.request<Secret>('GET', `/v1/secrets/${encodeSecretPath(path)}`, { query: { version } });

  putSecret = (path: string, data: Record<string, unknown>, secretType?: string) =>
    this.request<SecretWritten>('PUT', `/v1/secrets/${encodeSecretPath(path)}`, {
      body: { data, ...(secretType ? { secret_type: secretType } : {}) },
    });
}

const encodeSecretPath = (path: string) => path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
