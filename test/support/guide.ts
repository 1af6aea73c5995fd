import { expect } from 'vitest';
import type { Stack } from './stack';
import { uniqueName, type TargetDatabase } from './postgres';

/** The guide's steps 2-4 against a stack: root credential stored, engine configured, role defined. */
export async function configureGuideEngine(stack: Pick<Stack, 'call'>, target: TargetDatabase, role: Record<string, unknown> = {}) {
  const engine = uniqueName('reporting-db').replace(/_/g, '-');
  const rootPath = `infra/postgres/${engine}/root`;
  const stored = await stack.call('PUT', `/v1/secrets/${rootPath}`, {
    data: { username: target.admin, password: target.adminPassword },
    secret_type: 'json',
  });
  expect(stored.status).toBe(200);
  const created = await stack.call('POST', '/v1/dynamic/engines', {
    name: engine,
    type: 'database',
    config: { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath },
    default_ttl: '1h',
    max_ttl: '8h',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const defined = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, { ...target.guideRole, ...role });
  expect(defined.status, JSON.stringify(defined.body)).toBe(200);
  return { engine, rootPath, role: (role.name as string | undefined) ?? target.guideRole.name, roleResponse: defined.body };
}

/** Lease users this stack issued, for cleanup. */
export async function issuedUsernames(stack: Stack): Promise<string[]> {
  const { rows } = await stack.stores.db.query<{ username: string }>('SELECT username FROM leases');
  return rows.map((r) => r.username);
}
