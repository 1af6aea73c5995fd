import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portOpen } from '../../scripts/temporal-cli';
import { freePort } from '../support/global-setup';
import { launchBrowser } from '../support/browser';
import { configureGuideEngine } from '../support/guide';
import { apiCaller, type Call } from '../support/http';
import {
  ADMIN_URL,
  adminQuery,
  createTargetDatabase,
  roleExists,
  uniqueName,
  type TargetDatabase,
} from '../support/postgres';
import { exited, runEntry } from '../support/processes';
import { pythonWithGuideDeps } from '../support/python';
import { waitFor } from '../support/wait';

let dataDir: string;
let env: Record<string, string>;
let stackProcess: (ChildProcess & { output: () => string }) | undefined;
let target: TargetDatabase;
let storeName: string;
let call: Call;
let baseUrl: string;
const usernames: string[] = [];

/** `npm start`'s entry point, as a real process with its own ports, data dir and store database. */
async function startProduct() {
  stackProcess = runEntry('scripts/dev-stack.ts', env);
  const started = await waitFor(
    async () => stackProcess!.output(),
    (out) => out.includes('ScaiVault is running') || stackProcess!.exitCode !== null,
    90_000,
  );
  expect(started, started).toContain('ScaiVault is running');
  return started;
}

async function stopProduct() {
  stackProcess!.kill('SIGTERM');
  expect(await exited(stackProcess!)).toBe(0);
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-devstack-'));
  storeName = uniqueName('sv_devstack');
  const [apiPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  baseUrl = `http://127.0.0.1:${apiPort}`;
  env = {
    SCAIVAULT_PORT: String(apiPort),
    TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    SCAIVAULT_DATA_DIR: dataDir,
    DATABASE_URL: ADMIN_URL.replace(/\/[^/]*$/, `/${storeName}`),
  };
  target = await createTargetDatabase({ withGrantOption: true });
});

afterAll(async () => {
  stackProcess?.kill('SIGKILL');
  await target?.drop(usernames);
  await adminQuery(`DROP DATABASE IF EXISTS ${storeName} WITH (FORCE)`);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('starts everything, prints the addresses and a root token it keeps in the data dir (0600)', async () => {
    const banner = await startProduct();
    expect(banner).toContain(`API:             ${baseUrl}`);
    expect(banner).toContain(`Temporal Web UI: http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
    const tokenFile = path.join(dataDir, 'root-token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(banner).toContain(token);
    call = apiCaller(baseUrl, token);
    expect(await fetch(`${baseUrl}/v1/sys/health`).then((r) => r.json())).toEqual({
      status: 'ok',
      temporal: 'ok',
      database: 'ok',
    });
  });

  it('runs the API and the worker as processes of their own, so each gets a core', () => {
    const children = execFileSync('ps', ['-o', 'args=', '--ppid', String(stackProcess!.pid)], { encoding: 'utf8' });
    expect(children).toMatch(/node .*api\/main\.ts/);
    expect(children).toMatch(/node .*worker\/main\.ts/);
  });

  it('runs a second instance side by side with other ports and data dir, and its own store', async () => {
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-devstack-b-'));
    const otherEnv = {
      SCAIVAULT_PORT: String(await freePort()),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      SCAIVAULT_DATA_DIR: otherDir,
      DATABASE_URL: '',
    };
    const other = runEntry('scripts/dev-stack.ts', otherEnv);
    try {
      const banner = await waitFor(
        async () => other.output(),
        (out) => out.includes('ScaiVault is running') || other.exitCode !== null,
        90_000,
      );
      expect(banner, banner).toContain('ScaiVault is running');
      const otherToken = readFileSync(path.join(otherDir, 'root-token'), 'utf8').trim();
      const whoami = await fetch(`http://127.0.0.1:${otherEnv.SCAIVAULT_PORT}/v1/auth/whoami`, {
        headers: { authorization: `Bearer ${otherToken}` },
      });
      expect(whoami.status).toBe(200);
      // Each instance knows only its own root token.
      expect((await call('GET', '/v1/auth/whoami', undefined, otherToken)).status).toBe(401);
      expect((await call('GET', '/v1/auth/whoami')).status).toBe(200);
    } finally {
      other.kill('SIGTERM');
      await exited(other);
      const { loadConfig } = await import('../../lib/config');
      const otherStore = new URL(loadConfig({ SCAIVAULT_DATA_DIR: otherDir }).databaseUrl).pathname.slice(1);
      await adminQuery(`DROP DATABASE IF EXISTS ${otherStore} WITH (FORCE)`);
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it("runs the guide's step 5 Python snippet unchanged but for the base URL", async () => {
    const { engine } = await configureGuideEngine({ call }, target);
    env.ENGINE = engine;
    const { python, env: pyEnv } = pythonWithGuideDeps();
    const token = readFileSync(path.join(dataDir, 'root-token'), 'utf8').trim();
    const out = execFileSync(python, [path.join(__dirname, '..', 'guide', 'step5.py')], {
      env: { ...process.env, ...pyEnv, SCAIVAULT_TOKEN: token, SCAIVAULT_ADDR: baseUrl, ENGINE: engine },
      encoding: 'utf8',
    });
    expect(out).toContain('(42,)');
    const username = out.match(/username (\S+)/)![1]!;
    usernames.push(username);
    expect(await roleExists(username)).toBe(false);
  });

  it('shows an admin who opens a lease in the Temporal Web UI its decoded input, never its password', async () => {
    const minted = await call('POST', `/v1/dynamic/engines/${env.ENGINE}/creds/readonly`, {
      metadata: { ticket: 'OPS-UI-4471' },
    });
    expect(minted.status).toBe(200);
    usernames.push(minted.body.data.username);
    const {
      lease_id: leaseId,
      data: { password },
    } = minted.body as { lease_id: string; data: { password: string } };
    const token = readFileSync(path.join(dataDir, 'root-token'), 'utf8').trim();
    const codecEndpoint = `${baseUrl}/v1/sys/codec`;

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const decodes: Array<{ status: number; body: string }> = [];
      page.on('response', async (response) => {
        if (new URL(response.url()).pathname === '/v1/sys/codec/decode')
          decodes.push({ status: response.status(), body: await response.text().catch(() => '') });
      });

      // Sign in to the codec session: the browser keeps an HttpOnly cookie, not the token.
      await page.goto(`${codecEndpoint}/session`);
      await page.fill('#token', token);
      await page.click('button[type=submit]');
      await page.getByText('Signed in as root').waitFor();

      // Open the lease in the Web UI and point its codec at the API, sending the cookie along.
      await page.goto(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/namespaces/default/workflows/${leaseId}`);
      await page.locator('[data-testid^=data-encoder-status]').click();
      await page.getByTestId('use-local-endpoint-input').check();
      await page.getByTestId('data-encoder-endpoint-input').fill(codecEndpoint);
      await page.getByTestId('data-encoder-include-credentials').click();
      expect(await page.locator('#pass-access-credentials').isChecked()).toBe(true);
      await page.getByTestId('confirm-modal-button').filter({ hasText: 'Apply' }).click();
      await page.reload();

      const input = page.getByTestId('input-and-result');
      await expect.poll(() => input.innerText(), { timeout: 20_000 }).toContain(`"leaseId": "${leaseId}"`);
      expect(await input.innerText()).toContain('OPS-UI-4471');
      await page.getByTestId('data-encoder-status-success').waitFor();

      // The issue update's result, decoded: its password is still sealed.
      await page.getByTestId('history-tab').click();
      await page.getByText('Workflow Execution Update Completed').first().click();
      await expect.poll(() => page.innerText('main'), { timeout: 20_000 }).toMatch(/"password": "sealed:v1:/);

      expect(decodes.length).toBeGreaterThan(0);
      expect(decodes.every((d) => d.status === 200)).toBe(true);
      const decodedText = decodes
        .map((d) =>
          (JSON.parse(d.body).payloads as Array<{ data?: string }>)
            .map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8'))
            .join('\n'),
        )
        .join('\n');
      expect(decodedText).toContain(leaseId);
      for (const seen of [decodedText, await page.content(), await page.innerText('body')])
        expect(seen).not.toContain(password);
    } finally {
      await browser.close();
    }
  }, 600_000);

  it('keeps leases across a restart of the whole product, and they still expire', async () => {
    const minted = await call('POST', `/v1/dynamic/engines/${env.ENGINE}/creds/readonly`, { ttl: 25 });
    expect(minted.status).toBe(200);
    usernames.push(minted.body.data.username);
    await stopProduct();
    expect(await portOpen(Number(env.TEMPORAL_PORT))).toBe(false);

    const banner = await startProduct();
    expect(banner).toContain('created earlier');
    const listed = await call('GET', `/v1/dynamic/leases/${minted.body.lease_id}`);
    expect(listed.body.state).toBe('active');
    expect(await roleExists(minted.body.data.username)).toBe(true);

    const lease = await waitFor(
      async () => (await call('GET', `/v1/dynamic/leases/${minted.body.lease_id}`)).body,
      (l) => l.state === 'expired',
      60_000,
    );
    expect(lease.state).toBe('expired');
    expect(await roleExists(minted.body.data.username)).toBe(false);
    await stopProduct();
  });
});
