import { z } from 'zod';
import { ERROR_STATUS } from '../lib/errors';
import { LEASE_STATES, type LeaseState } from '../lib/lease';

/**
 * What every route answers, as zod schemas: the routes declare them (fastify checks each answer against
 * its schema, and TypeScript checks each handler), the OpenAPI document at /v1/sys/openapi.json is made
 * from them, and the TypeScript client's types are inferred from them. One source for all three.
 */
const instant = z.iso.datetime({ offset: true });
const nullableInstant = instant.nullable();
const cursor = z.string().nullable().describe('pass back as ?cursor= for the next page; null on the last page');
const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: cursor });

export const errorResponse = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    request_id: z.string(),
  }),
});

/** The error answers a route may give, all in the contract's shape. */
export const errorResponses = Object.fromEntries(
  [400, 401, 403, 404, 409, 413, 429, 500, 503].map((status) => [status, errorResponse]),
) as Record<400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503, typeof errorResponse>;
export const noContent = z.null().describe('no body');

export const leaseResponse = z.object({
  lease_id: z.string(),
  engine: z.string(),
  role: z.string(),
  username: z.string(),
  state: z.enum(LEASE_STATES as [LeaseState, ...LeaseState[]]),
  issued_at: instant,
  expires_at: instant,
  max_expires_at: instant,
  revoked_at: nullableInstant,
  identity_id: z.string(),
  metadata: z.record(z.string(), z.string()),
  last_error: z.string().nullable(),
  forced: z.boolean().optional(),
});
export const leasePage = page(leaseResponse);
export const renewedLease = leaseResponse.extend({
  lease_duration: z.number().int(),
  renewable: z.boolean(),
  warnings: z.array(z.string()),
});
export const revokingLease = leaseResponse.extend({ warnings: z.array(z.string()).optional() });
export const revokedPrefix = z.object({ revoked: z.array(z.string()), pending: z.array(z.string()) });

export const credentials = z.object({
  lease_id: z.string(),
  lease_duration: z.number().int().describe('the TTL granted, in seconds'),
  renewable: z.boolean(),
  expires_at: instant,
  data: z.object({ username: z.string(), password: z.string(), connection_url: z.string() }),
  warnings: z.array(z.string()).optional(),
});

export const engineResponse = z.object({
  name: z.string(),
  type: z.literal('database'),
  config: z.object({
    plugin: z.literal('postgresql'),
    connection_url: z.string(),
    ca_certificate: z.string().optional(),
    root_credentials_path: z.string(),
    credentials_cache_ttl: z.number().int(),
    statement_timeout: z.number().int(),
    lock_timeout: z.number().int(),
  }),
  default_ttl: z.number().int(),
  max_ttl: z.number().int(),
  connection_status: z.enum(['healthy', 'unhealthy']),
  last_error: z.string().optional(),
  created_at: instant,
  updated_at: instant,
});
export const enginePage = page(engineResponse);

export const roleResponse = z.object({
  engine: z.string(),
  name: z.string(),
  creation_statements: z.array(z.string()),
  revocation_statements: z.array(z.string()),
  renew_statements: z.array(z.string()),
  default_ttl: z.number().int(),
  max_ttl: z.number().int(),
  username_template: z.string(),
  created_at: instant,
  updated_at: instant,
});
export const savedRole = roleResponse.extend({ warnings: z.array(z.string()) });
export const rolePage = page(roleResponse);

export const policyResponse = z.object({
  id: z.string(),
  name: z.string(),
  rules: z.array(z.object({ path_pattern: z.string(), permissions: z.array(z.string()) })),
  bindings: z.array(z.string()),
  created_at: instant,
  updated_at: instant,
});
export const policyPage = page(policyResponse);
export const binding = z.object({ policy_id: z.string(), identity_id: z.string() });

export const mintedToken = z.object({
  token: z.string().describe('shown once'),
  token_id: z.string(),
  identity_id: z.string(),
  scopes: z.array(z.string()),
  policies: z.array(z.string()),
  expires_at: nullableInstant,
});
export const whoami = z.object({
  identity_id: z.string(),
  token_id: z.string(),
  scopes: z.array(z.string()),
  policies: z.array(z.string()),
});

export const secretResponse = z.object({
  path: z.string(),
  version: z.number().int(),
  data: z.record(z.string(), z.unknown()),
  secret_type: z.string(),
  created_at: instant,
  state: z.enum(['current', 'pending', 'previous', 'retired']),
});
export const secretWritten = z.object({ path: z.string(), version: z.number().int(), created_at: instant });
export const secretPaths = z.object({ data: z.object({ paths: z.array(z.string()) }), next_cursor: cursor });
export const secretVersions = z.object({
  path: z.string(),
  versions: z.array(
    z.object({ version: z.number().int(), state: z.string(), secret_type: z.string(), created_at: instant }),
  ),
});

export const auditEntry = z.object({
  id: z.string(),
  timestamp: instant,
  identity_id: z.string(),
  action: z.string(),
  path: z.string(),
  result: z.enum(['success', 'failure']),
  extra_data: z.record(z.string(), z.unknown()),
});
export const auditPage = z.object({ logs: z.array(auditEntry), next_cursor: cursor });
export const auditVerdict = z.object({
  valid: z.boolean(),
  checked: z.number().int(),
  first_broken_id: z.string().optional(),
  reason: z.string().optional(),
  checkpoint: z.object({ last_id: z.string(), hash: z.string(), at: instant }).nullable().optional(),
  checkpoint_unavailable: z.string().optional(),
});

export const secretPolicyResponse = z.object({
  id: z.string(),
  name: z.string(),
  length: z.number().int(),
  charset: z.string(),
  min_digits: z.number().int(),
  min_lowercase: z.number().int(),
  min_uppercase: z.number().int(),
  min_symbols: z.number().int(),
  builtin: z.boolean(),
  created_at: instant,
});
export const secretPolicyPage = page(secretPolicyResponse);
export const rotationPolicyResponse = z.object({
  id: z.string(),
  name: z.string(),
  interval: z.number().int(),
  grace_period: z.number().int(),
  auto_generate: z.boolean(),
  secret_policy_id: z.string(),
  created_at: instant,
  secret_paths: z.array(z.string()).optional(),
});
export const rotationPolicyPage = page(rotationPolicyResponse);
export const rotationResponse = z.object({
  rotation_id: z.string(),
  secret_path: z.string(),
  policy_id: z.string().nullable(),
  trigger: z.string(),
  state: z.string(),
  new_version: z.number().int().nullable(),
  previous_version: z.number().int().nullable(),
  requested_by: z.string(),
  confirmed_by: z.string().nullable(),
  started_at: instant,
  confirm_deadline: nullableInstant,
  confirmed_at: nullableInstant,
  grace_ends_at: nullableInstant,
  finished_at: nullableInstant,
  last_error: z.string().nullable(),
});
export const assignment = z.object({
  policy_id: z.string(),
  secret_path: z.string(),
  schedule_id: z.string(),
  next_rotation_at: nullableInstant,
});
export const rotationStatus = z.object({
  secret_path: z.string(),
  policy: rotationPolicyResponse.nullable(),
  schedule: z.object({ id: z.string(), interval: z.number().int(), next_run_at: nullableInstant }).nullable(),
  last_rotation: rotationResponse.nullable(),
  next_rotation_at: nullableInstant,
  current_rotation: rotationResponse.nullable(),
});

export const webhookResponse = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  path_pattern: z.string().nullable(),
  created_at: instant,
});
export const createdWebhook = webhookResponse.extend({ signing_secret: z.string().describe('shown once') });
export const webhookPage = page(webhookResponse);
export const deliveryPage = page(
  z.object({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    secret_path: z.string(),
    rotation_id: z.string().nullable(),
    status: z.enum(['pending', 'retrying', 'delivered', 'failed']),
    attempts: z.number().int(),
    response_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: instant,
    last_attempt_at: nullableInstant,
  }),
);

export const health = z.object({
  status: z.enum(['ok', 'degraded']),
  temporal: z.enum(['ok', 'unavailable']),
  database: z.enum(['ok', 'unavailable']),
});

/** A route's answers: its own, and the error answers every route may give. */
export const answers = <T extends Partial<Record<200 | 201 | 202 | 204, z.ZodType>>>(own: T) => ({
  ...errorResponses,
  ...own,
});
