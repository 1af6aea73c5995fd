import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  values: unknown[] = [],
  database?: string,
) {
  const url = database ? ADMIN_URL.replace(/\/[^/]*$/, `/${database}`) : ADMIN_URL;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export const roleExists = async (name: string) =>
  (await adminQuery('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length > 0;

export async function validUntil(name: string): Promise<Date | null> {
  const rows = await adminQuery<{ rolvaliduntil: Date | null }>(
    'SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1',
    [name],
  );
  return rows[0]?.rolvaliduntil ?? null;
}

/** Logs in with the URL and runs the query; returns the first value, or throws the database's error. */
export async function queryAs(url: string, sql: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url.replace(/[?&]sslmode=[^&]*/, '') });
  await client.connect();
  try {
    const { rows } = await client.query(sql);
    return rows[0] && Object.values(rows[0])[0];
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TargetDatabase {
  name: string;
  admin: string;
  adminPassword: string;
  /** The engine's connection_url template, as in the guide's step 3. */
  connectionUrl: string;
  /** The guide's step 4 role, with this database's names. */
  guideRole: {
    name: string;
    creation_statements: string[];
    revocation_statements: string[];
    default_ttl: string;
    max_ttl: string;
  };
  drop(leaseUsers?: string[]): Promise<void>;
}

/**
 * A database shaped like the guide's `reporting`, with an `orders` table and the guide's step 1 admin.
 * `withGrantOption` adds the grant option the guide's step 1 lacks (see the field notes): without it
 * the issued user cannot read `orders`.
 */
export async function createTargetDatabase(
  options: { withGrantOption?: boolean; tables?: number } = {},
): Promise<TargetDatabase> {
  const name = uniqueName('reporting');
  const admin = uniqueName('scaivault_admin');
  const adminPassword = 'temporary-bootstrap-password';
  await adminQuery(`CREATE DATABASE ${name}`);
  await adminQuery(`CREATE ROLE ${admin} WITH LOGIN PASSWORD '${adminPassword}' CREATEROLE NOSUPERUSER`);
  await adminQuery(
    [
      `GRANT CONNECT ON DATABASE ${name} TO ${admin}`,
      `GRANT USAGE ON SCHEMA public TO ${admin}`,
      `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${admin}`,
      'CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)',
      'INSERT INTO orders (total) SELECT g FROM generate_series(1, 42) g',
      ...Array.from({ length: options.tables ?? 0 }, (_, i) => `CREATE TABLE extra_${i} (id int)`),
      ...(options.withGrantOption ? [`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${admin} WITH GRANT OPTION`] : []),
    ].join(';\n'),
    [],
    name,
  );
  return {
    name,
    admin,
    adminPassword,
    connectionUrl: `postgresql://{{username}}:{{password}}@127.0.0.1:5432/${name}?sslmode=disable`,
    guideRole: {
      name: 'readonly',
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
        `GRANT CONNECT ON DATABASE ${name} TO "{{name}}"`,
        'GRANT USAGE ON SCHEMA public TO "{{name}}"',
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
      ],
      revocation_statements: [
        'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
        'REVOKE ALL ON SCHEMA public FROM "{{name}}"',
        `REVOKE CONNECT ON DATABASE ${name} FROM "{{name}}"`,
        `REASSIGN OWNED BY "{{name}}" TO ${admin}`,
        'DROP OWNED BY "{{name}}"',
        'DROP ROLE IF EXISTS "{{name}}"',
      ],
      default_ttl: '1h',
      max_ttl: '8h',
    },
    /** Drops the database, the given lease users that still exist, and the admin. */
    async drop(leaseUsers: string[] = []) {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      for (const user of leaseUsers) await adminQuery(`DROP ROLE IF EXISTS "${user}"`).catch(() => {});
      await adminQuery(`DROP ROLE IF EXISTS ${admin}`).catch(() => {});
    },
  };
}
