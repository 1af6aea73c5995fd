import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Credentials } from '../../client';

export const FORMATS = ['json', 'env', 'pgpass', 'url'] as const;
export type CredentialFormat = (typeof FORMATS)[number];

/** The libpq environment of a credential: what `psql`, psycopg, pgx and node-postgres read. */
export function credentialEnv(credential: Credentials): Record<string, string> {
  const url = new URL(credential.data.connection_url);
  const sslmode = url.searchParams.get('sslmode');
  return {
    PGHOST: decodeURIComponent(url.hostname),
    PGPORT: url.port || '5432',
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
    PGUSER: credential.data.username,
    PGPASSWORD: credential.data.password,
    ...(sslmode ? { PGSSLMODE: sslmode } : {}),
    DATABASE_URL: credential.data.connection_url,
  };
}

const pgpassField = (value: string) => value.replace(/([\\:])/g, '\\$1');

/** The file's contents in each format. */
export function renderCredential(credential: Credentials, format: CredentialFormat): string {
  switch (format) {
    case 'json':
      return (
        JSON.stringify(
          { ...credential.data, lease_id: credential.lease_id, expires_at: credential.expires_at },
          null,
          2,
        ) + '\n'
      );
    case 'env':
      return (
        Object.entries(credentialEnv(credential))
          .map(([k, v]) => `${k}=${shellQuote(v)}`)
          .join('\n') + '\n'
      );
    case 'pgpass': {
      const env = credentialEnv(credential);
      return (
        [env.PGHOST!, env.PGPORT!, env.PGDATABASE!, env.PGUSER!, env.PGPASSWORD!].map(pgpassField).join(':') + '\n'
      );
    }
    case 'url':
      return `${credential.data.connection_url}\n`;
  }
}

/** Single-quoted when it needs to be, so `set -a; . file` and Docker's `--env-file` both read it. */
const shellQuote = (value: string) =>
  /^[A-Za-z0-9_@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;

/** Writes the file whole or not at all: a temp file beside it (mode 0600), then a rename over it. */
export function writeAtomically(file: string, contents: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, contents, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
