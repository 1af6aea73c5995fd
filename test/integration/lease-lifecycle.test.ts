import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { queryAs, roleExists, validUntil, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine } = c));

const mint = (body: unknown = {}) => stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, body);

describe('the guide, steps 2 to 5', () => {
  it('shows the engine healthy', async () => {
    const { status, body } = await stack.call('GET', `/v1/dynamic/engines/${engine}`);
    expect(status).toBe(200);
    expect(body.connection_status).toBe('healthy');
    expect(JSON.stringify(body)).not.toContain(target.adminPassword);
  });

  it('mints a user that logs in and reads orders; after revoke it cannot log in and the role is gone', async () => {
    const { status, body } = await mint({ ttl: '2h', metadata: { purpose: 'nightly report' } });
    expect(status).toBe(200);
    expect(body.lease_id).toMatch(/^lease_[A-Za-z0-9_-]{20,}$/);
    expect(body.lease_duration).toBe(7200); // the TTL granted, wherever the clock's second falls
    expect(body.renewable).toBe(true);
    expect(body.data.username).toMatch(/^v_readonly_[a-z0-9]+$/);
    expect(await queryAs(body.data.connection_url, 'SELECT count(*)::int FROM orders')).toBe(42);

    const listed = await stack.call('GET', `/v1/dynamic/leases?engine=${engine}&state=active`);
    expect(listed.body.data.map((l: { lease_id: string }) => l.lease_id)).toContain(body.lease_id);
    const shown = await stack.call('GET', `/v1/dynamic/leases/${body.lease_id}`);
    expect(shown.body).toMatchObject({
      state: 'active',
      metadata: { purpose: 'nightly report' },
      identity_id: 'root',
      role: 'readonly',
    });

    const revoked = await stack.call('DELETE', `/v1/dynamic/leases/${body.lease_id}`);
    expect(revoked.status).toBe(204);
    expect(await roleExists(body.data.username)).toBe(false);
    await expect(queryAs(body.data.connection_url, 'SELECT 1')).rejects.toThrow(
      /password authentication failed|does not exist/,
    );
    expect((await stack.call('GET', `/v1/dynamic/leases/${body.lease_id}`)).body.state).toBe('revoked');

    expect((await stack.call('DELETE', `/v1/dynamic/leases/${body.lease_id}`)).status).toBe(204);
  });

  it('sets VALID UNTIL to the lease expiry and moves it on renew', async () => {
    const { body } = await mint({ ttl: '1h' });
    expect((await validUntil(body.data.username))?.toISOString()).toBe(body.expires_at);
    const renewed = await stack.call('POST', `/v1/dynamic/leases/${body.lease_id}/renew`, { increment: '3h' });
    expect(renewed.status).toBe(200);
    expect(renewed.body.lease_duration).toBe(3 * 3600); // the TTL granted, wherever the clock's second falls
    expect(Date.parse(renewed.body.expires_at) - Date.now()).toBeGreaterThan(3 * 3600_000 - 10_000);
    expect(renewed.body.warnings).toEqual([]);
    expect((await validUntil(body.data.username))?.toISOString()).toBe(renewed.body.expires_at);
  });

  it('caps a renewal at the max TTL with a warning, then refuses with max_ttl_exceeded', async () => {
    const { body } = await mint();
    const capped = await stack.call('POST', `/v1/dynamic/leases/${body.lease_id}/renew`, { increment: '30h' });
    expect(capped.status).toBe(200);
    expect(capped.body.expires_at).toBe(capped.body.max_expires_at);
    expect(capped.body.warnings.join()).toMatch(/max/);
    expect((await validUntil(body.data.username))?.toISOString()).toBe(capped.body.max_expires_at);
    const refused = await stack.call('POST', `/v1/dynamic/leases/${body.lease_id}/renew`, { increment: '1h' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('max_ttl_exceeded');
  });

  it('caps a requested ttl above the max with a warning', async () => {
    const { status, body } = await mint({ ttl: '100h' });
    expect(status).toBe(200);
    expect(body.warnings.join()).toMatch(/capped/);
    expect(body.lease_duration).toBe(8 * 3600);
  });

  it('drops the role of a 2-second lease within seconds of expiry and records it as expired', async () => {
    const { body } = await mint({ ttl: 2 });
    expect(await roleExists(body.data.username)).toBe(true);
    const lease = await waitFor(
      async () => (await stack.call('GET', `/v1/dynamic/leases/${body.lease_id}`)).body,
      (l) => l.state === 'expired',
    );
    expect(lease.state).toBe('expired');
    expect(await roleExists(body.data.username)).toBe(false);
    expect(Date.parse(lease.revoked_at) - Date.parse(body.expires_at)).toBeLessThan(5_000);
    const renew = await stack.call('POST', `/v1/dynamic/leases/${body.lease_id}/renew`, {});
    expect(renew.status).toBe(409);
  });
});
