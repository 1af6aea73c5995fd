import { afterAll, beforeAll, expect } from 'vitest';
import { startStack, type Stack } from './stack';
import { createTargetDatabase, uniqueName, type TargetDatabase } from './postgres';

/** The guide's steps 2-4 against a stack: root credential stored, engine configured, role defined. */
export async function configureGuideEngine(
  stack: Pick<Stack, 'call'>,
  target: TargetDatabase,
  role: Record<string, unknown> = {},
  engineConfig: Record<string, unknown> = {},
) {
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
    config: {
      plugin: 'postgresql',
      connection_url: target.connectionUrl,
      root_credentials_path: rootPath,
      ...engineConfig,
    },
    default_ttl: '1h',
    max_ttl: '8h',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const defined = await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, { ...target.guideRole, ...role });
  expect(defined.status, JSON.stringify(defined.body)).toBe(200);
  return {
    engine,
    rootPath,
    role: (role.name as string | undefined) ?? target.guideRole.name,
    roleResponse: defined.body,
  };
}

/** Lease users this stack issued, for cleanup. */
export async function issuedUsernames(stack: Stack): Promise<string[]> {
  const { rows } = await stack.stores.db.query<{ username: string }>('SELECT username FROM leases');
  return rows.map((r) => r.username);
}

export interface GuideContext {
  stack: Stack;
  target: TargetDatabase;
  engine: string;
  rootPath: string;
}

/**
 * The usual test file's world: a stack, a guide-shaped target database and (unless `configure` is
 * false) the guide's engine and role on it, made before the file's tests and removed after them.
 * `assign` hands them to the file's own variables.
 */
export function withGuideStack(
  options: {
    withGrantOption?: boolean;
    tables?: number;
    worker?: boolean;
    workerWaitMs?: number;
    appRole?: string;
    configure?: boolean;
    engineConfig?: Record<string, unknown>;
  },
  assign: (context: GuideContext) => void,
) {
  let context: Partial<GuideContext> = {};
  beforeAll(async () => {
    const [stack, target] = await Promise.all([
      startStack({ worker: options.worker, workerWaitMs: options.workerWaitMs, appRole: options.appRole }),
      createTargetDatabase({ withGrantOption: options.withGrantOption, tables: options.tables }),
    ]);
    context = { stack, target };
    if (options.configure !== false)
      Object.assign(context, await configureGuideEngine(stack, target, {}, options.engineConfig));
    assign(context as GuideContext);
  });
  afterAll(async () => {
    const users = context.stack ? await issuedUsernames(context.stack) : [];
    await context.stack?.stop();
    await context.target?.drop(users);
  });
}
