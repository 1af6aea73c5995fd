/** Scopes a token carries (coarse). `admin` implies every other. */
export const SCOPES = [
  'admin',
  'secrets:read',
  'secrets:write',
  'dynamic:manage',
  'dynamic:generate',
  'rotation:manage',
  'audit:read',
  'policies:manage',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Permissions a policy rule grants on a path (fine). `deny` wins over every grant. */
export const PERMISSIONS = [
  'read',
  'write',
  'delete',
  'list',
  'rotate',
  'generate',
  'renew',
  'revoke',
  'deny',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface Identity {
  identity_id: string;
  token_id: string;
  scopes: Scope[];
  policies: string[];
}

export const isAdmin = (identity: Identity) => identity.scopes.includes('admin');
export const hasScope = (identity: Identity, scope: Scope) => isAdmin(identity) || identity.scopes.includes(scope);

export const ROOT_IDENTITY = 'root';
export const ENGINE_IDENTITY = 'system:dynamic-engines';
export const credsPath = (engine: string, role: string) => `dynamic/${engine}/creds/${role}`;
/**
 * Policy paths of the management routes, after Vault's database engine (`database/config/<name>`,
 * `database/roles/<name>`).
 */
export const engineConfigPath = (engine: string) => `dynamic/${engine}/config`;
export const rolePath = (engine: string, role?: string) => `dynamic/${engine}/roles${role ? `/${role}` : ''}`;
export const ENGINES_PATH = 'dynamic/engines';
