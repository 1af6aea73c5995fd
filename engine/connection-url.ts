import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type { PoolConfig } from 'pg';
import { parse } from 'pg-connection-string';
import { render } from '../lib/templates';

export interface RootCredential {
  username: string;
  password: string;
}

/** Why a connection_url template is unusable, or undefined when it is fine. */
export function connectionUrlProblem(template: string): string | undefined {
  let url: URL;
  try {
    url = new URL(template.replace('{{username}}', 'u').replace('{{password}}', 'p'));
  } catch {
    return 'connection_url is not a URL';
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:')
    return 'connection_url must start with postgresql://';
  const [, userinfo = '', rest = ''] = template.match(/^[a-z]+:\/\/(?:([^@/?#]*)@)?(.*)$/is) ?? [];
  const [, password] = userinfo.match(/^[^:]*:(.*)$/s) ?? [];
  if (password !== undefined && password !== '{{password}}') {
    return 'connection_url must not carry a literal password: use {{password}} and keep it in root_credentials_path';
  }
  // The credential goes where a credential goes and nowhere else (not the host, database or query),
  // so no URL can carry it to a place it would be logged or sent in the clear.
  if (/\{\{/.test(rest) || !/^([^{}:]*|\{\{username\}\})(:\{\{password\}\})?$/.test(userinfo)) {
    return 'connection_url may use {{username}} and {{password}} only as its user and password (postgresql://{{username}}:{{password}}@host/db)';
  }
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode && !SSL_MODES.includes(sslmode)) return `sslmode must be one of ${SSL_MODES.join(', ')}`;
  const file = FILE_PARAMETERS.find((name) => url.searchParams.has(name));
  if (file) {
    return (
      `connection_url may not name a file on the ScaiVault server (${file}): ` +
      'give the CA certificate as config.ca_certificate (PEM); client certificates are not supported'
    );
  }
  return undefined;
}

/** libpq parameters that name files: the API would read them from its own disk. */
const FILE_PARAMETERS = [
  'sslrootcert',
  'sslcert',
  'sslkey',
  'sslcrl',
  'sslcrldir',
  'passfile',
  'service',
  'servicefile',
];
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Why a ca_certificate is unusable: it must hold one or more PEM X.509 certificates and nothing else. */
export function caCertificateProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0 || pem.replace(PEM_CERTIFICATE, '').trim() !== '')
    return 'ca_certificate must be one or more PEM certificates (-----BEGIN CERTIFICATE----- ...)';
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return 'ca_certificate holds a PEM block that is not an X.509 certificate';
    }
  }
  return undefined;
}

/** The template with a username and password filled in, URL-encoded. */
export const fillConnectionUrl = (template: string, credential: RootCredential) =>
  render(template, {
    username: encodeURIComponent(credential.username),
    password: encodeURIComponent(credential.password),
  });

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * `sslmode` as libpq means it, with the engine's `ca_certificate` in the place of libpq's `sslrootcert`.
 * node-postgres reads `require` as `verify-full`; libpq's `require` encrypts without verifying the server
 * (and verifies the CA when one is given). libpq's `prefer` falls
 * back to plaintext when the server has no TLS; node-postgres cannot fall back, so `allow` and `prefer`
 * connect in plaintext, as libpq does against such a server.
 */
export function sslFor(sslmode: string | null, ca?: string): PoolConfig['ssl'] {
  const verifyCa: ConnectionOptions = { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
  switch (sslmode) {
    case null:
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return ca ? verifyCa : { rejectUnauthorized: false };
    case 'verify-ca':
      return verifyCa;
    case 'verify-full':
      return { rejectUnauthorized: true, ca };
    default:
      throw new Error(`unsupported sslmode ${sslmode}`);
  }
}

/** A pg pool config for the filled-in URL, with libpq's sslmode semantics; `ca` verifies the server. */
/** Seconds a statement on the target may run, and wait for a lock, before the database cancels it. */
export interface StatementLimits {
  statement_timeout: number;
  lock_timeout: number;
}

export function poolConfigFor(connectionUrl: string, ca?: string | null, limits?: StatementLimits): PoolConfig {
  const url = new URL(connectionUrl);
  const sslmode = url.searchParams.get('sslmode');
  // A file parameter is refused when the URL is saved; one stored before that is dropped, never read.
  for (const key of ['sslmode', 'uselibpqcompat', ...FILE_PARAMETERS]) url.searchParams.delete(key);
  const parsed = parse(url.toString());
  return {
    host: parsed.host ?? undefined,
    port: parsed.port ? Number(parsed.port) : undefined,
    database: parsed.database ?? undefined,
    user: parsed.user,
    password: parsed.password,
    application_name: 'scaivault',
    ssl: sslFor(sslmode, ca ?? undefined),
    // Startup parameters: the server applies them to the session before any statement runs.
    ...(limits ? { statement_timeout: limits.statement_timeout * 1000, lock_timeout: limits.lock_timeout * 1000 } : {}),
  };
}

/** Strips any occurrence of the secret from a message the database produced. */
export function scrub(message: string, ...secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out;
}
