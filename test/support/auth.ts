import { expect } from 'vitest';
import type { Stack } from './stack';

/** Mints a token as root; returns the token and its id. */
export async function mintToken(
  stack: Stack,
  identity_id: string,
  scopes: string[],
  extra: Record<string, unknown> = {},
) {
  const { status, body } = await stack.call('POST', '/v1/auth/tokens', { identity_id, scopes, ...extra });
  expect(status, JSON.stringify(body)).toBe(201);
  return body as {
    token: string;
    token_id: string;
    identity_id: string;
    scopes: string[];
    policies: string[];
    expires_at: string | null;
  };
}

/** Creates a policy as root and binds it to the given identities; returns its id. */
export async function grant(
  stack: Stack,
  name: string,
  rules: Array<{ path_pattern: string; permissions: string[] }>,
  ...identities: string[]
) {
  const created = await stack.call('POST', '/v1/policies', { name, rules });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  for (const identity_id of identities) {
    const bound = await stack.call('POST', `/v1/policies/${created.body.id}/bindings`, { identity_id });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
  }
  return created.body.id as string;
}
