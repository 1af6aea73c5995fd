import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../support/auth';
import { configureGuideEngine, withGuideStack, type GuideContext } from '../support/guide';
import { queryAs, roleExists } from '../support/postgres';
import { exited } from '../support/processes';
import { waitFor } from '../support/wait';

/** `scaivault agent`, the sidecar for services in any language, run as a process against the real stack. */
let c: GuideContext;
let shortEngine: string;
let dir: string;
withGuideStack({ withGrantOption: true }, (context) => (c = context));
beforeAll(async () => {
  ({ engine: shortEngine } = await configureGuideEngine(c.stack, c.target, {
    name: 'short',
    default_ttl: '3s',
    max_ttl: '7s',
  }));
  dir = mkdtempSync(path.join(os.tmpdir(), 'scaivault-agent-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BIN = path.resolve(__dirname, '../../bin/scaivault.js');
const agent = (args: string[], env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [BIN, 'agent', ...args], {
    env: { ...process.env, SCAIVAULT_ADDR: c.stack.baseUrl, SCAIVAULT_TOKEN: c.stack.rootToken, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return Object.assign(child, { output: () => output });
};
const readJson = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as {
    username: string;
    password: string;
    connection_url: string;
    lease_id: string;
    expires_at: string;
  };

describe('the agent in file mode', () => {
  it(
    'writes the credential (0600), renews keeping the user, regenerates past the max TTL, drops the old role, ' +
      'and revokes on SIGTERM',
    async () => {
      const file = path.join(dir, 'db.json');
      const proc = agent(['--engine', shortEngine, '--role', 'short', '--ttl', '3s', '--out', file, '--grace', '1']);
      try {
        const first = await waitFor(
          async () => (existsSync(file) ? readJson(file) : undefined),
          (j) => j !== undefined,
          20_000,
        );
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(await queryAs(first!.connection_url, 'SELECT count(*)::int FROM orders')).toBe(42);
        const renewed = await waitFor(
          async () => readJson(file),
          (j) => j.expires_at !== first!.expires_at,
          10_000,
        );
        expect(renewed.username).toBe(first!.username);
        const rotated = await waitFor(
          async () => readJson(file),
          (j) => j.username !== first!.username,
          20_000,
        );
        expect(await queryAs(rotated.connection_url, 'SELECT 1')).toBe(1);
        await waitFor(
          () => roleExists(first!.username),
          (exists) => !exists,
          10_000,
        );
        const stopping = exited(proc);
        proc.kill('SIGTERM');
        expect(await stopping).toBe(0);
        await waitFor(
          () => roleExists(rotated.username),
          (exists) => !exists,
          5_000,
        );
        expect(await roleExists(rotated.username)).toBe(false);
      } finally {
        proc.kill('SIGKILL');
      }
    },
    90_000,
  );

  it('writes env, pgpass and url formats a shell, libpq and a driver read', async () => {
    for (const format of ['env', 'pgpass', 'url'] as const) {
      const file = path.join(dir, `db.${format}`);
      const proc = agent(['--engine', c.engine, '--role', 'readonly', '--out', file, '--format', format]);
      try {
        const text = await waitFor(
          async () => (existsSync(file) ? readFileSync(file, 'utf8') : ''),
          (t) => t.length > 0,
          20_000,
        );
        if (format === 'env') {
          for (const name of ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'DATABASE_URL'])
            expect(text).toMatch(new RegExp(`^${name}=`, 'm'));
          const sourced = await new Promise<string>((resolve) => {
            const sh = spawn('sh', ['-c', `set -a; . "${file}"; printf '%s|%s' "$PGUSER" "$DATABASE_URL"`]);
            let out = '';
            sh.stdout.on('data', (d) => (out += d));
            sh.once('exit', () => resolve(out));
          });
          const [user, url] = sourced.split('|');
          expect(await queryAs(url!, 'SELECT current_user')).toBe(user);
        } else if (format === 'pgpass') {
          expect(text.trim().split(':')).toHaveLength(5);
        } else {
          expect(await queryAs(text.trim(), 'SELECT count(*)::int FROM orders')).toBe(42);
        }
      } finally {
        const stopping = exited(proc);
        proc.kill('SIGTERM');
        expect(await stopping).toBe(0);
      }
    }
  }, 90_000);

  it('refuses an unknown role or a refused token clearly, non-zero, leaving no file', async () => {
    for (const [args, env, message] of [
      [['--engine', c.engine, '--role', 'nope'], {}, /role nope/],
      [['--engine', c.engine, '--role', 'readonly'], { SCAIVAULT_TOKEN: 'svt_not-a-token' }, /token/i],
      [['--engine', c.engine, '--role', 'readonly'], { SCAIVAULT_TOKEN: '' }, /SCAIVAULT_TOKEN/],
    ] as const) {
      const file = path.join(dir, 'refused.json');
      const proc = agent([...args, '--out', file], env);
      expect(await exited(proc)).not.toBe(0);
      expect(proc.output()).toMatch(message);
      expect(existsSync(file)).toBe(false);
    }
  });

  it('reads its token from a file, again when the file changes', async () => {
    const tokenFile = path.join(dir, 'token');
    const first = await mintToken(c.stack, 'svc:agent', ['admin']);
    writeFileSync(tokenFile, `${first.token}\n`);
    const file = path.join(dir, 'via-token-file.json');
    const proc = agent(
      ['--engine', shortEngine, '--role', 'short', '--ttl', '3s', '--out', file, '--token-file', tokenFile],
      { SCAIVAULT_TOKEN: '' },
    );
    try {
      const issued = await waitFor(
        async () => (existsSync(file) ? readJson(file) : undefined),
        (j) => j !== undefined,
        20_000,
      );
      const second = await mintToken(c.stack, 'svc:agent', ['admin']);
      writeFileSync(tokenFile, `${second.token}\n`);
      await new Promise((r) => setTimeout(r, 50));
      expect((await c.stack.call('DELETE', `/v1/auth/tokens/${first.token_id}`)).status).toBe(204);
      // Renewals go on with the new token.
      await waitFor(
        async () => readJson(file),
        (j) => j.expires_at !== issued!.expires_at,
        10_000,
      );
      expect(proc.output()).not.toMatch(/401|unauthorized/i);
    } finally {
      const stopping = exited(proc);
      proc.kill('SIGTERM');
      await stopping;
    }
  }, 60_000);

  it('killed with SIGKILL leaves a lease that still expires on its TTL', async () => {
    const file = path.join(dir, 'killed.json');
    const proc = agent(['--engine', shortEngine, '--role', 'short', '--ttl', '3s', '--out', file]);
    const issued = await waitFor(
      async () => (existsSync(file) ? readJson(file) : undefined),
      (j) => j !== undefined,
      20_000,
    );
    proc.kill('SIGKILL');
    await exited(proc);
    await waitFor(
      () => roleExists(issued!.username),
      (exists) => !exists,
      20_000,
    );
    const lease = (await c.stack.call('GET', `/v1/dynamic/leases/${issued!.lease_id}`)).body;
    expect(lease.state).toBe('expired');
  }, 60_000);
});

describe('the agent in exec mode', () => {
  const run = (command: string, env: Record<string, string> = {}): ChildProcess & { output: () => string } =>
    agent(['--engine', c.engine, '--role', 'readonly', '--', 'sh', '-c', command], env);

  it(
    'runs the command with the credential in its environment, ' + "and exits with the command's status after revoking",
    async () => {
      const proc = run('echo "user=$PGUSER db=$PGDATABASE"; exit 7');
      expect(await exited(proc)).toBe(7);
      const username = proc.output().match(/user=(\S+)/)![1]!;
      expect(proc.output()).toContain(`db=${c.target.name}`);
      await waitFor(
        () => roleExists(username),
        (exists) => !exists,
        5_000,
      );
      expect(await roleExists(username)).toBe(false);
    },
  );

  it('forwards SIGTERM to the command, waits for it, revokes, and exits with its status', async () => {
    const proc = run('trap "echo child got TERM; exit 3" TERM; echo "user=$PGUSER"; while true; do sleep 0.1; done');
    const username = (await waitFor(
      async () => proc.output().match(/user=(\S+)/)?.[1],
      (u) => u !== undefined,
      20_000,
    ))!;
    expect(await roleExists(username)).toBe(true);
    const stopping = exited(proc);
    proc.kill('SIGTERM');
    expect(await stopping).toBe(3);
    expect(proc.output()).toContain('child got TERM');
    await waitFor(
      () => roleExists(username),
      (exists) => !exists,
      5_000,
    );
    expect(await roleExists(username)).toBe(false);
  });
});
