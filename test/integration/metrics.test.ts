import { beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../support/auth';
import { withGuideStack } from '../support/guide';
import { adminQuery, type TargetDatabase } from '../support/postgres';
import { sample } from '../support/prometheus';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;
let scraper: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine } = c));
beforeAll(async () => {
  scraper = (await mintToken(stack, 'svc:prometheus', ['audit:read'])).token;
});

async function scrape(token?: string) {
  const response = await fetch(`${stack.baseUrl}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const mint = async (role: string, body: Record<string, unknown> = {}) =>
  stack.call('POST', `/v1/dynamic/engines/${engine}/creds/${role}`, body);

describe('GET /metrics', () => {
  it('needs a token with audit:read (or admin): none is 401, another scope is 403', async () => {
    const anonymous = await scrape();
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain('scaivault_');
    const manager = (await mintToken(stack, 'svc:manager', ['dynamic:manage', 'dynamic:generate'])).token;
    expect((await scrape(manager)).status).toBe(403);
    expect((await scrape(scraper)).status).toBe(200);
    expect((await scrape(stack.rootToken)).status).toBe(200);
  });

  it('serves Prometheus text with the process metrics', async () => {
    const { type, text } = await scrape(scraper);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(text).toMatch(new RegExp(`^${name} `, 'm'));
    }
  });

  it(
    'counts leases by state from the store, and mints, renewals, ' + 'revocations and expiries as they happen',
    async () => {
      const readonly = { engine, role: 'readonly' };
      let text = (await scrape(scraper)).text;
      // A configured role with no lease shows 0, not nothing.
      for (const state of ['active', 'revoking', 'revocation_failed'])
        expect(sample(text, 'scaivault_leases', { ...readonly, state })).toBe(0);

      const [a, b, c] = await Promise.all([mint('readonly'), mint('readonly'), mint('readonly')]);
      const atMax = await mint('readonly', { ttl: '8h' });
      for (const minted of [a, b, c, atMax]) expect(minted!.status).toBe(200);
      expect(
        (await stack.call('POST', `/v1/dynamic/leases/${a!.body.lease_id}/renew`, { increment: '2h' })).status,
      ).toBe(200);
      // already at its max TTL
      expect((await stack.call('POST', `/v1/dynamic/leases/${atMax.body.lease_id}/renew`, {})).status).toBe(400);
      expect((await stack.call('DELETE', `/v1/dynamic/leases/${b!.body.lease_id}`)).status).toBe(204);

      text = (await scrape(scraper)).text;
      expect(sample(text, 'scaivault_leases', { ...readonly, state: 'active' })).toBe(3);
      expect(sample(text, 'scaivault_lease_mint_duration_seconds_count', { ...readonly, outcome: 'success' })).toBe(4);
      expect(
        sample(text, 'scaivault_lease_mint_duration_seconds_bucket', { ...readonly, outcome: 'success', le: '+Inf' }),
      ).toBe(4);
      expect(sample(text, 'scaivault_lease_renewals_total', { ...readonly, outcome: 'success' })).toBe(1);
      expect(sample(text, 'scaivault_lease_renewals_total', { ...readonly, outcome: 'failure' })).toBe(1);
      expect(sample(text, 'scaivault_lease_revocations_total', { ...readonly, outcome: 'revoked' })).toBe(1);

      // A revocation that fails (the user owns a schema), seen as a failing lease, then forced.
      const schema = `owned_${c!.body.data.username}`;
      await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${c!.body.data.username}"`, [], target.name);
      expect((await stack.call('DELETE', `/v1/dynamic/leases/${c!.body.lease_id}`)).status).toBe(202);
      text = (await scrape(scraper)).text;
      expect(sample(text, 'scaivault_leases', { ...readonly, state: 'revocation_failed' })).toBe(1);
      expect(sample(text, 'scaivault_leases', { ...readonly, state: 'active' })).toBe(2);
      expect(sample(text, 'scaivault_lease_revocations_total', { ...readonly, outcome: 'revocation_failed' })).toBe(1);
      expect((await stack.call('DELETE', `/v1/dynamic/leases/${c!.body.lease_id}?force=true`)).status).toBe(204);
      await adminQuery(`DROP SCHEMA ${schema}`, [], target.name);
      text = (await scrape(scraper)).text;
      expect(sample(text, 'scaivault_leases', { ...readonly, state: 'revocation_failed' })).toBe(0);
      expect(sample(text, 'scaivault_lease_revocations_total', { ...readonly, outcome: 'forced' })).toBe(1);

      // An expiry is counted by the worker that drops the role (in this process: the stack's worker runs here).
      const short = await mint('readonly', { ttl: 2 });
      expect(short.status).toBe(200);
      await waitFor(
        async () => (await stack.call('GET', `/v1/dynamic/leases/${short.body.lease_id}`)).body.state,
        (s) => s === 'expired',
        30_000,
      );
      text = (await scrape(scraper)).text;
      expect(sample(text, 'scaivault_lease_expirations_total', readonly)).toBe(1);
      expect(sample(text, 'scaivault_leases', { ...readonly, state: 'active' })).toBe(2);

      // Labels name engines, roles and outcomes only: no username, lease id, password or token.
      for (const minted of [a, b, c, atMax, short]) {
        for (const value of [minted!.body.data.username, minted!.body.data.password, minted!.body.lease_id])
          expect(text).not.toContain(value);
      }
      expect(text).not.toContain(stack.rootToken);
      expect(text).not.toContain(scraper);
    },
  );

  it('times a mint that fails as a failure', async () => {
    // The admin owns a table the role grants on; once it is gone, the creation statements fail at issue.
    await adminQuery(`CREATE TABLE fragile (id int); ALTER TABLE fragile OWNER TO ${target.admin}`, [], target.name);
    const role = {
      ...target.guideRole,
      name: 'fragile',
      creation_statements: [...target.guideRole.creation_statements, 'GRANT SELECT ON fragile TO "{{name}}"'],
    };
    expect((await stack.call('POST', `/v1/dynamic/engines/${engine}/roles`, role)).status).toBe(200);
    await adminQuery('DROP TABLE fragile', [], target.name);
    expect((await mint('fragile')).status).toBe(503);
    const { text } = await scrape(scraper);
    expect(
      sample(text, 'scaivault_lease_mint_duration_seconds_count', { engine, role: 'fragile', outcome: 'failure' }),
    ).toBe(1);
    expect(
      sample(text, 'scaivault_lease_mint_duration_seconds_count', { engine, role: 'fragile', outcome: 'success' }),
    ).toBeUndefined();
    expect(sample(text, 'scaivault_leases', { engine, role: 'fragile', state: 'active' })).toBe(0);
  });
});
