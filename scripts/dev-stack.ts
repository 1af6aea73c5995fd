import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { READY_MESSAGE } from '../lib/supervised';
import { ensureRootToken } from '../store/bootstrap';
import { openMigratedStore } from '../store/open';
import { nodeFlagsFor } from '../worker/node-flags';
import { portOpen, startDevServer, stopChildProcess, stopDevServer } from './temporal-cli';

/**
 * What the embedded default sets unless the environment does: webhook receivers on this machine's loopback
 * may be reached (a local receiver is how one tries rotation here); a deployment reaches public ones only.
 */
const EMBEDDED_DEFAULTS = { SCAIVAULT_WEBHOOK_ALLOW_PRIVATE: '127.0.0.0/8,::1/128' };
const ROOT = path.resolve(__dirname, '..');

/**
 * `npm start`: the whole product on its embedded default. A Temporal dev server (state kept in the data
 * dir, so leases survive a restart), migrations, then the worker and the API as two processes of their
 * own (`npm run worker`, `npm run api`), so each gets a core. They are this process's children: they
 * stop when it stops, and if either dies the whole stack stops with an error rather than run half.
 */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'dev-stack');
  const apiUrl = `http://${config.host}:${config.port}`;
  let temporalServer: ChildProcess | undefined;

  if (!config.temporal.external) {
    if (await portOpen(config.temporal.port)) {
      log.info({ port: config.temporal.port }, 'a Temporal server already listens on this port; reusing it');
    } else {
      temporalServer = await startDevServer(
        {
          port: config.temporal.port,
          uiPort: config.temporal.uiPort,
          dbFile: path.join(config.dataDir, 'temporal.db'),
          codecEndpoint: `${apiUrl}/v1/sys/codec`,
        },
        (line) => log.info(line),
      );
    }
  }

  // Migrations, the master key and the root token before the children start, so they never race for them.
  const { stores } = await openMigratedStore(config, 1);
  const root = await ensureRootToken(stores, config.dataDir, config.devRootToken);
  await stores.close();

  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping');
    // The worker drains in-flight activities first (its own shutdown grace is 20 s).
    await Promise.all(children.map((child) => stopChildProcess(child, 30_000)));
    if (temporalServer) await stopDevServer(temporalServer);
    process.exit(code);
  };
  const start = (entry: string) => {
    const child = fork(path.join(ROOT, entry), {
      cwd: ROOT,
      execArgv: nodeFlagsFor(entry),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...EMBEDDED_DEFAULTS, ...process.env },
    });
    children.push(child);
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`${entry} exited (${signal ?? `code ${code}`}); stopping the stack`);
      void stop(1);
    });
    return child;
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    temporalServer?.kill('SIGTERM');
  });

  await Promise.all([ready(start('worker/main.ts')), ready(start('api/main.ts'))]);

  const uiUrl = config.temporal.external
    ? '(external Temporal: see its own Web UI)'
    : `http://127.0.0.1:${config.temporal.uiPort}`;
  process.stdout.write(
    [
      '',
      'ScaiVault is running.',
      `  API:             ${apiUrl}`,
      `  Temporal Web UI: ${uiUrl}`,
      `  Root token:      ${root.token ?? `(created earlier; it is in ${root.file})`}` +
        `${root.created ? `  (shown once; also in ${root.file}, mode 0600)` : ''}`,
      '',
      'Try it:',
      `  export SCAIVAULT_ADDR=${apiUrl} ` +
        `SCAIVAULT_TOKEN=${config.devRootToken ? config.devRootToken : `$(cat ${root.file})`}`,
      '  curl -s $SCAIVAULT_ADDR/v1/sys/health',
      '  curl -s -H "Authorization: Bearer $SCAIVAULT_TOKEN" $SCAIVAULT_ADDR/v1/dynamic/leases',
      '  The guide (shared/spec) works with its base URL replaced by $SCAIVAULT_ADDR. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

/** Resolves when the child says it is serving (`announceReady`), rejects if it exits first. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.on('message', (message) => message === READY_MESSAGE && resolve());
    child.once('exit', (code) => reject(new Error(`exited with code ${code} while starting`)));
  });
}

main().catch((error) => {
  console.error('npm start failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
