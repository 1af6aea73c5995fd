import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tamperWithAudit } from '../support/audit';
import { grant, mintToken } from '../support/auth';
import { issuedUsernames } from '../support/guide';
import { createTargetDatabase, type TargetDatabase } from '../support/postgres';
import { startStack, type Stack } from '../support/stack';
import { waitFor } from '../support/wait';

/** The guide's step 8, word for word. */
const GUIDE_LEASES = `scaivault dynamic leases list --engine reporting-db --json \\
  | jq -r '.data | group_by(.role) | map({role: .[0].role, count: length})'`;
const GUIDE_AUDIT = `scaivault audit query --action dynamic_generate --json \\
  | jq -r '.logs[] | "\\(.timestamp) \\(.identity_id) lease \\(.extra_data.lease_id)"'`;

const BIN = path.resolve(__dirname, '../../bin/scaivault.js');
const HAS_JQ = spawnSync('sh', ['-c', 'command -v jq']).status === 0;

let stack: Stack;
let target: TargetDatabase;
let pathDir: string;
let operatorToken: string;
const issued: Record<string, string[]> = { readonly: [], writer: [] };

/** Runs a shell line the way a user's terminal would: `scaivault` on PATH, the environment set. */
function shell(
  line: string,
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${pathDir}${path.delimiter}${process.env.PATH}`,
    SCAIVAULT_ADDR: stack.baseUrl,
    SCAIVAULT_TOKEN: operatorToken,
    ...env,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete fullEnv[key];
  return new Promise((resolve) => {
    execFile('bash', ['-o', 'pipefail', '-c', line], { env: fullEnv, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(line: string, env?: Record<string, string | undefined>) {
  const result = await shell(line, env);
  expect(result.code, `${line}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  [stack, target] = await Promise.all([startStack(), createTargetDatabase({ withGrantOption: true })]);
  pathDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-cli-'));
  symlinkSync(BIN, path.join(pathDir, 'scaivault'));

  // The guide's steps 2-4 with the guide's own names: this stack's store is fresh, so they are free.
  const rootPath = 'infra/postgres/reporting/root';
  expect(
    (
      await stack.call('PUT', `/v1/secrets/${rootPath}`, {
        data: { username: target.admin, password: target.adminPassword },
        secret_type: 'json',
      })
    ).status,
  ).toBe(200);
  const engine = await stack.call('POST', '/v1/dynamic/engines', {
    name: 'reporting-db',
    type: 'database',
    default_ttl: '1h',
    max_ttl: '8h',
    config: { plugin: 'postgresql', connection_url: target.connectionUrl, root_credentials_path: rootPath },
  });
  expect(engine.status, JSON.stringify(engine.body)).toBe(201);
  for (const name of Object.keys(issued)) {
    expect(
      (await stack.call('POST', '/v1/dynamic/engines/reporting-db/roles', { ...target.guideRole, name })).status,
    ).toBe(200);
  }

  const service = (await mintToken(stack, 'svc:reporting', ['dynamic:generate'])).token;
  await grant(
    stack,
    'reporting',
    [{ path_pattern: 'dynamic/reporting-db/creds/*', permissions: ['generate'] }],
    'svc:reporting',
  );
  for (const [role, count] of [
    ['readonly', 3],
    ['writer', 1],
  ] as const) {
    for (let i = 0; i < count; i++) {
      const { status, body } = await stack.call('POST', `/v1/dynamic/engines/reporting-db/creds/${role}`, {}, service);
      expect(status).toBe(200);
      issued[role]!.push(body.lease_id);
    }
  }
  // A revoked lease is not a current one: the guide's count leaves it out.
  expect((await stack.call('DELETE', `/v1/dynamic/leases/${issued.readonly![2]}`, undefined, service)).status).toBe(
    204,
  );
  await grant(
    stack,
    'operators',
    [{ path_pattern: 'dynamic/reporting-db/creds/*', permissions: ['list'] }],
    'user:operator',
  );
  operatorToken = (await mintToken(stack, 'user:operator', ['dynamic:manage', 'audit:read'])).token;
});

afterAll(async () => {
  const users = stack ? await issuedUsernames(stack) : [];
  await stack?.stop();
  await target?.drop(users);
  if (pathDir) rmSync(pathDir, { recursive: true, force: true });
});

describe("the guide's step 8", () => {
  it('counts current leases per role', async () => {
    const expected = [
      { role: 'readonly', count: 2 },
      { role: 'writer', count: 1 },
    ];
    const json = JSON.parse(await ok('scaivault dynamic leases list --engine reporting-db --json'));
    const roles = [...new Set(json.data.map((l: { role: string }) => l.role))].sort() as string[];
    expect(
      roles.map((role) => ({ role, count: json.data.filter((l: { role: string }) => l.role === role).length })),
    ).toEqual(expected);
    if (!HAS_JQ) return console.warn('jq is not installed: the guide line itself was not run');
    expect(JSON.parse(await ok(GUIDE_LEASES))).toEqual(expected);
  });

  it('lists who borrowed which lease, one line each', async () => {
    const json = JSON.parse(await ok('scaivault audit query --action dynamic_generate --json'));
    const lines = json.logs.map(
      (e: { timestamp: string; identity_id: string; extra_data: { lease_id: string } }) =>
        `${e.timestamp} ${e.identity_id} lease ${e.extra_data.lease_id}`,
    );
    expect(lines).toHaveLength(4);
    for (const leaseId of [...issued.readonly!, ...issued.writer!]) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z svc:reporting lease ${leaseId}$`)),
      );
    }
    if (!HAS_JQ) return console.warn('jq is not installed: the guide line itself was not run');
    expect((await ok(GUIDE_AUDIT)).trimEnd().split('\n')).toEqual(lines);
  });

  it('says who the token belongs to', async () => {
    const out = await ok('scaivault auth whoami');
    expect(out).toMatch(/^identity_id\s+user:operator$/m);
    expect(out).toMatch(/^scopes\s+dynamic:manage,audit:read$/m);
  });
});

describe('the other commands', () => {
  it('print readable tables without --json', async () => {
    const leases = await ok('scaivault dynamic leases list --engine reporting-db --role readonly');
    expect(leases.split('\n')[0]).toMatch(/^LEASE_ID\s+ROLE\s+STATE\s+USERNAME\s+IDENTITY_ID\s+EXPIRES_AT$/);
    for (const leaseId of issued.readonly!.slice(0, 2))
      expect(leases).toMatch(new RegExp(`^${leaseId}\\s+readonly\\s+active\\s+v_readonly_`, 'm'));
    expect(leases).not.toContain(issued.readonly![2]);
    expect(await ok('scaivault dynamic leases list --engine reporting-db --state all')).toContain(issued.readonly![2]);
    // Every page is fetched: one lease per request lists the same leases.
    const paged = JSON.parse(
      await ok('scaivault dynamic leases list --engine reporting-db --state all --page-size 1 --json'),
    ).data.map((l: { lease_id: string }) => l.lease_id);
    expect(paged).toHaveLength(4);
    expect([...paged].sort()).toEqual([...issued.readonly!, ...issued.writer!].sort());
    const audit = await ok('scaivault audit query --action dynamic_generate --limit 2');
    expect(audit.split('\n')[0]).toMatch(/^TIMESTAMP\s+IDENTITY_ID\s+ACTION\s+PATH\s+RESULT\s+LEASE_ID$/);
    expect(audit).toMatch(/^more: --cursor \d+$/m);
  });

  it('mint, renew and revoke credentials, and put and get secrets, as an admin', async () => {
    const admin = { SCAIVAULT_TOKEN: stack.rootToken };
    const creds = JSON.parse(await ok('scaivault dynamic creds reporting-db readonly --ttl 1h --json', admin));
    expect(creds.data.username).toMatch(/^v_readonly_/);
    expect(await ok(`scaivault dynamic leases renew ${creds.lease_id} --increment 2h`, admin)).toMatch(
      /^expires_at\s+\S+Z$/m,
    );
    expect(await ok(`scaivault dynamic leases revoke ${creds.lease_id}`, admin)).toBe(`revoked ${creds.lease_id}\n`);
    expect((await stack.call('GET', `/v1/dynamic/leases/${creds.lease_id}`)).body.state).toBe('revoked');
    // The shutdown-hook form answers once the revocation is requested; the lease ends moments later.
    const other = JSON.parse(await ok('scaivault dynamic creds reporting-db readonly --json', admin));
    expect(await ok(`scaivault dynamic leases revoke ${other.lease_id} --no-wait`, admin)).toBe(
      `revocation of ${other.lease_id} requested; its user is dropped shortly\n`,
    );
    await waitFor(
      async () => (await stack.call('GET', `/v1/dynamic/leases/${other.lease_id}`)).body.state,
      (state) => state === 'revoked',
      10_000,
    );

    expect(await ok("scaivault secrets put app/cli/config user=reporter 'dsn=postgres://x?a=b'", admin)).toMatch(
      /^version\s+1$/m,
    );
    const got = await ok('scaivault secrets get app/cli/config', admin);
    expect(got).toMatch(/^user\s+reporter$/m);
    expect(got).toMatch(/^dsn\s+postgres:\/\/x\?a=b$/m);
    expect(JSON.parse(await ok('scaivault secrets get app/cli/config --json', admin)).data).toEqual({
      user: 'reporter',
      dsn: 'postgres://x?a=b',
    });
  });

  it('verify the audit chain, and exit non-zero at a tampered row', async () => {
    expect(await ok('scaivault audit verify')).toMatch(/^audit chain intact: \d+ entries checked/m);
    await stack.checkpointAudit();
    await waitFor(
      async () => (await shell('scaivault audit verify')).stdout,
      (out) => /up to and past the checkpoint of \S+ \(entry \d+\)$/m.test(out),
      20_000,
    );
    const { rows } = await stack.stores.db.query('SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 3');
    await tamperWithAudit(stack, `UPDATE audit_log SET path = 'elsewhere' WHERE id = $1`, [rows[0].id]);
    const broken = await shell('scaivault audit verify');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(new RegExp(`^first_broken_id\\s+${rows[0].id}$`, 'm'));
    expect(JSON.parse((await shell('scaivault audit verify --json')).stdout)).toMatchObject({
      valid: false,
      first_broken_id: String(rows[0].id),
    });
  });
});

describe('errors', () => {
  it("print the API's message and exit non-zero", async () => {
    const refused = await shell('scaivault dynamic creds reporting-db readonly');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^Error: this route needs the dynamic:generate scope \[forbidden, request req_/);
    const bad = await shell('scaivault auth whoami', { SCAIVAULT_TOKEN: 'svt_not-a-token' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('invalid or expired token');
    expect(bad.stderr).not.toContain('svt_not-a-token');
    const missing = await shell('scaivault dynamic leases list --engine nope');
    expect(missing.code).toBe(0); // an unknown engine simply has no leases
  });

  it('say how to set a missing token or a wrong address', async () => {
    const noToken = await shell('scaivault auth whoami', { SCAIVAULT_TOKEN: undefined });
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toContain('export SCAIVAULT_TOKEN=');
    const badAddress = await shell('scaivault auth whoami', { SCAIVAULT_ADDR: 'not a url' });
    expect(badAddress.code).not.toBe(0);
    expect(badAddress.stderr).toContain('export SCAIVAULT_ADDR=');
    const unreachable = await shell('scaivault auth whoami', { SCAIVAULT_ADDR: 'http://127.0.0.1:9' });
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toMatch(/cannot reach ScaiVault at http:\/\/127\.0\.0\.1:9[\s\S]*SCAIVAULT_ADDR/);
  });
});
