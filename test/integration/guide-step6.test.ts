import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { withGuideStack, type GuideContext } from '../support/guide';
import { roleExists } from '../support/postgres';
import { pythonWithGuideDeps } from '../support/python';
import { waitFor } from '../support/wait';

const execFileAsync = promisify(execFile);

/** The guide's step 6 Python client, run against the real stack with only its missing method supplied. */
let c: GuideContext;
withGuideStack({ withGrantOption: true, configure: false }, (context) => (c = context));

describe("the guide's step 6 ManagedCredential", () => {
  it('acquires, renews, is refused past the max TTL, acquires a fresh lease, and revokes it', async () => {
    // The guide's names: engine reporting-db, role readonly (short TTLs, so max TTL comes within seconds). A
    // renewal comes a second after the answer and 3 s before expiry, so a slow mint on a loaded box still renews.
    const rootPath = 'infra/postgres/reporting/root';
    expect(
      (
        await c.stack.call('PUT', `/v1/secrets/${rootPath}`, {
          data: { username: c.target.admin, password: c.target.adminPassword },
          secret_type: 'json',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await c.stack.call('POST', '/v1/dynamic/engines', {
          name: 'reporting-db',
          type: 'database',
          default_ttl: '1h',
          max_ttl: '8h',
          config: { plugin: 'postgresql', connection_url: c.target.connectionUrl, root_credentials_path: rootPath },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await c.stack.call('POST', '/v1/dynamic/engines/reporting-db/roles', {
          ...c.target.guideRole,
          default_ttl: '4s',
          max_ttl: '7s',
        })
      ).status,
    ).toBe(200);

    const { python, env } = pythonWithGuideDeps();
    const { stdout } = await execFileAsync(python, [path.join(__dirname, '..', 'guide', 'step6.py')], {
      env: { ...process.env, ...env, SCAIVAULT_ADDR: c.stack.baseUrl, SCAIVAULT_TOKEN: c.stack.rootToken },
      timeout: 60_000,
    });
    const [, firstLease, firstUser] = stdout.match(/^acquired (\S+) (\S+)$/m)!;
    const [, nextLease, nextUser] = stdout.match(/^regenerated (\S+) (\S+)$/m)!;
    expect(nextLease).not.toBe(firstLease);
    expect(stdout).toMatch(new RegExp(`^revoked ${nextLease}$`, 'm'));

    // A renewal the loop's cancellation cut off may still be finishing on the server.
    const renewalsOf = async (leaseId: string) =>
      (await c.stack.call('GET', '/v1/audit?action=dynamic_renew&limit=100')).body.logs.filter(
        (e: { extra_data: { lease_id?: string } }) => e.extra_data.lease_id === leaseId,
      );
    expect(
      (
        await waitFor(
          () => renewalsOf(firstLease!),
          (r) => r.length >= 1,
          10_000,
        )
      ).length,
    ).toBeGreaterThanOrEqual(1);
    expect((await c.stack.call('GET', `/v1/dynamic/leases/${nextLease}`)).body.state).toBe('revoked');
    expect(await roleExists(nextUser!)).toBe(false);
    // The first lease, past its max TTL, is not revoked by the guide's code: it expires on its own.
    await waitFor(
      () => roleExists(firstUser!),
      (exists) => !exists,
      20_000,
    );
  }, 90_000);
});
