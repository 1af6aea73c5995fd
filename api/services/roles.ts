import { isAdmin, rolePath, type Identity } from '../../lib/access';
import { ApiError, notFound } from '../../lib/errors';
import {
  DEFAULT_RENEW_STATEMENTS,
  DEFAULT_REVOCATION_STATEMENTS,
  DEFAULT_USERNAME_TEMPLATE,
  STATEMENT_PLACEHOLDERS,
  unknownPlaceholders,
  USERNAME_PLACEHOLDERS,
} from '../../lib/templates';
import type { Stores } from '../../store';
import type { RoleFields, RoleRecord } from '../../store/roles';
import { DefinitionRejected, dryRunRole } from '../../engine/dry-run';
import { sessionControlProblem } from '../../engine/statements';
import { TargetError, type TargetPools } from '../../engine/target-pools';
import type { Authorizer } from '../auth';
import type { EngineService } from './engines';
import { refusal } from './refusal';
import { auditEntry } from './audit-entry';

export interface RoleInput {
  name: string;
  creation_statements: string[];
  revocation_statements?: string[];
  renew_statements?: string[];
  default_ttl?: number;
  max_ttl?: number;
  username_template?: string;
}

export function roleView(r: RoleRecord) {
  return {
    engine: r.engine,
    name: r.name,
    creation_statements: r.creation_statements,
    revocation_statements: r.revocation_statements,
    renew_statements: r.renew_statements,
    default_ttl: r.default_ttl,
    max_ttl: r.max_ttl,
    username_template: r.username_template,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

/** Checks what can be checked without a database: placeholders, name use, TTLs. Returns warnings. */
function checkDefinition(role: RoleFields, engineMaxTtl: number): string[] {
  const warnings: string[] = [];
  const groups = {
    creation_statements: role.creation_statements,
    revocation_statements: role.revocation_statements,
    renew_statements: role.renew_statements,
  };
  for (const [field, statements] of Object.entries(groups)) {
    statements.forEach((statement, index) => {
      const control = sessionControlProblem(statement);
      if (control)
        throw new ApiError('invalid_statements', `${field}[${index}]: ${control}`, { field, statement_index: index });
      const unknown = unknownPlaceholders(statement, STATEMENT_PLACEHOLDERS);
      if (unknown.length) {
        throw new ApiError(
          'invalid_statements',
          `${field}[${index}] uses unknown placeholder(s) ${unknown.map((u) => `{{${u}}}`).join(', ')}`,
          {
            field,
            statement_index: index,
            allowed: STATEMENT_PLACEHOLDERS.map((p) => `{{${p}}}`),
          },
        );
      }
    });
  }
  if (!role.creation_statements.some((s) => s.includes('{{name}}'))) {
    throw new ApiError('invalid_statements', 'creation_statements must create a role named {{name}}');
  }
  if (!role.revocation_statements.some((s) => s.includes('{{name}}'))) {
    throw new ApiError('invalid_statements', 'revocation_statements must drop the role named {{name}}');
  }
  if (!role.creation_statements.some((s) => s.includes('{{password}}')))
    warnings.push('creation_statements never set {{password}}: the issued user cannot log in with a password');
  if (!role.creation_statements.some((s) => s.includes('{{expiration}}'))) {
    warnings.push(
      "creation_statements set no VALID UNTIL '{{expiration}}': " +
        'Postgres will not refuse the login by itself if revocation is late',
    );
  }
  const unknownUser = unknownPlaceholders(role.username_template, USERNAME_PLACEHOLDERS);
  if (unknownUser.length || !role.username_template.includes('{{random}}')) {
    throw new ApiError(
      'invalid_request',
      'username_template may use only {{role}}, {{engine}} and {{random}}, and must include {{random}}',
    );
  }
  if (role.default_ttl > role.max_ttl) throw new ApiError('invalid_request', 'default_ttl must not exceed max_ttl');
  if (role.max_ttl > engineMaxTtl) warnings.push(`max_ttl is capped at the engine's max_ttl of ${engineMaxTtl}s`);
  return warnings;
}

/** Tries the statements against the database (rolled back) and turns a refusal into invalid_statements. */
async function tryAgainstDatabase(targets: TargetPools, role: RoleFields): Promise<string[]> {
  const statements = {
    creation: role.creation_statements,
    renew: role.renew_statements,
    revocation: role.revocation_statements,
  };
  try {
    return await targets.withClient(role.engine, (client) => dryRunRole(client, statements));
  } catch (error) {
    if (error instanceof DefinitionRejected) {
      const { statementIndex, sqlstate, message, hint } = error.failure;
      throw new ApiError('invalid_statements', error.message, {
        phase: error.phase,
        statement_index: statementIndex,
        sqlstate: sqlstate ?? null,
        message,
        hint: hint ?? null,
      });
    }
    if (error instanceof TargetError)
      throw new ApiError('engine_unavailable', `could not try the statements: ${error.message}`);
    throw error;
  }
}

const roleEntry = (actor: Identity, engine: string, name: string, operation: 'create' | 'update' | 'delete') =>
  auditEntry(actor, 'role_write', rolePath(engine, name), { operation });

export function createRoleService(
  stores: Pick<Stores, 'audit' | 'audited' | 'roles'>,
  engines: EngineService,
  targets: TargetPools,
  authorizer: Pick<Authorizer, 'allows'>,
) {
  /** The role and its live engine, read side by side (a missing engine is the one named). */
  async function mustGetWithEngine(engineName: string, name: string) {
    const [engine, role] = await Promise.all([engines.mustGet(engineName), stores.roles.get(engineName, name)]);
    if (!role) throw notFound(`role ${name} on engine ${engineName}`);
    return { engine, role };
  }
  const mustGet = async (engine: string, name: string) => (await mustGetWithEngine(engine, name)).role;

  async function save(actor: Identity, engineName: string, input: RoleInput, existing?: RoleRecord) {
    const engine = await engines.mustGet(engineName);
    const base = existing ?? {
      revocation_statements: DEFAULT_REVOCATION_STATEMENTS,
      renew_statements: DEFAULT_RENEW_STATEMENTS,
      default_ttl: Math.min(engine.default_ttl, input.max_ttl ?? engine.max_ttl),
      max_ttl: engine.max_ttl,
      username_template: DEFAULT_USERNAME_TEMPLATE,
    };
    const fields: RoleFields = {
      engine: engineName,
      name: input.name,
      creation_statements: input.creation_statements,
      revocation_statements: input.revocation_statements ?? base.revocation_statements,
      renew_statements: input.renew_statements ?? base.renew_statements,
      default_ttl: input.default_ttl ?? base.default_ttl,
      max_ttl: input.max_ttl ?? base.max_ttl,
      username_template: input.username_template ?? base.username_template,
    };
    const alreadyExists = () =>
      new ApiError(
        'conflict',
        `role ${input.name} already exists on engine ${engineName}; ` +
          `change it with PATCH /v1/dynamic/engines/${engineName}/roles/${input.name}`,
      );
    if (!existing && (await stores.roles.get(engineName, input.name))) throw alreadyExists();
    const warnings = [...checkDefinition(fields, engine.max_ttl), ...(await tryAgainstDatabase(targets, fields))];
    const saved = await stores.audited(
      async (tx) => {
        if (!existing) return stores.roles.within(tx).create(fields);
        await stores.roles.within(tx).update(fields);
        return true;
      },
      (done) => (done ? roleEntry(actor, engineName, input.name, existing ? 'update' : 'create') : undefined),
    );
    if (!saved) throw alreadyExists();
    return { ...roleView((await stores.roles.get(engineName, input.name))!), warnings };
  }

  return {
    mustGet,
    mustGetWithEngine,
    get: async (engine: string, name: string) => roleView(await mustGet(engine, name)),
    list: async (engine: string) => {
      await engines.mustGet(engine);
      return (await stores.roles.list(engine)).map(roleView);
    },
    /**
     * Creates a role; an existing one is 409 (updates go to the role's own path). Authorized on the role's
     * own path, which only the body names: a policy that denies `dynamic/<engine>/roles/<name>` holds here too.
     */
    async create(actor: Identity, engine: string, input: RoleInput) {
      const path = rolePath(engine, input.name);
      if (!isAdmin(actor) && !(await authorizer.allows(actor, 'write', path))) {
        throw await refusal(stores.audit, actor, path, `no policy grants write on ${path}`, { permission: 'write' });
      }
      return save(actor, engine, input);
    },
    async update(actor: Identity, engine: string, name: string, patch: Partial<Omit<RoleInput, 'name'>>) {
      const existing = await mustGet(engine, name);
      return save(actor, engine, { ...existing, ...patch, name }, existing);
    },
    async delete(actor: Identity, engine: string, name: string) {
      await mustGet(engine, name);
      await stores.audited(
        (tx) => stores.roles.within(tx).delete(engine, name),
        roleEntry(actor, engine, name, 'delete'),
      );
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
