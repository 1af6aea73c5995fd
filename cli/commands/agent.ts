import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { Command, Option } from 'commander';
import { HeldCredential } from '../../client/held-credential';
import type { Credentials, ScaiVaultClient } from '../../client';
import {
  credentialEnv,
  FORMATS,
  renderCredential,
  writeAtomically,
  type CredentialFormat,
} from '../agent/credential-files';
import { clientFromEnv, UsageError } from '../env';

/** How long a stopping agent gives the child, and its revocations, before it exits anyway. */
const CHILD_GRACE_MS = 10_000;
const REVOKE_BOUND_MS = 5_000;

interface AgentOptions {
  engine: string;
  role: string;
  ttl?: string;
  out?: string;
  format: CredentialFormat;
  tokenFile?: string;
  grace: number;
}

/**
 * `scaivault agent`: a sidecar that holds one credential for a service in any language, as Vault Agent
 * does. File mode keeps it in a file (rewritten atomically on renewal and rotation); exec mode runs a
 * command with it in the environment (restarted with the new one on rotation). Either way it renews at a
 * third of the TTL left, replaces the lease past its max TTL, and revokes on the way out.
 */
export function agentCommand(): Command {
  return new Command('agent')
    .description('hold a credential for a service: keep it in a file (--out) or run a command with it (-- <command>)')
    .requiredOption('--engine <name>', 'engine name')
    .requiredOption('--role <name>', 'role name')
    .option('--ttl <duration>', 'lease TTL and renewal increment, for example 1h (the role default when unset)')
    .option('--out <file>', 'write the credential to this file (mode 0600)')
    .addOption(new Option('--format <format>', 'file format').choices([...FORMATS]).default('json'))
    .option(
      '--token-file <file>',
      'read the token from this file, again whenever it changes (instead of SCAIVAULT_TOKEN)',
    )
    .option(
      '--grace <seconds>',
      'how long a replaced credential stays valid before it is revoked',
      (v) => Number(v),
      30,
    )
    .argument('[command...]', 'the command to run with the credential in its environment (after --)')
    .action(async (command: string[], opts: AgentOptions) => {
      if (!opts.out === (command.length === 0))
        throw new UsageError('give either --out <file> or -- <command> [args...]');
      const held = await HeldCredential.acquire({
        client: agentClient(opts),
        engine: opts.engine,
        role: opts.role,
        ttl: opts.ttl,
        graceMs: opts.grace * 1000,
      });
      held.on('error', (error) => process.stderr.write(`scaivault agent: ${error.message}\n`));
      await (opts.out ? keepFile(held, opts.out, opts.format) : runCommand(held, command));
    });
}

/** The client: SCAIVAULT_TOKEN, or a token file read again whenever its modification time moves. */
function agentClient(opts: AgentOptions): ScaiVaultClient {
  if (!opts.tokenFile) return clientFromEnv();
  const file = opts.tokenFile;
  let cached: { mtimeMs: number; token: string } | undefined;
  const token = () => {
    const { mtimeMs } = statSync(file);
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, token: readFileSync(file, 'utf8').trim() };
    return cached.token;
  };
  if (!token()) throw new UsageError(`the token file ${file} is empty`);
  return clientFromEnv(process.env, token);
}

/** Revokes within a bound, then exits. */
async function stopAndExit(held: HeldCredential, code: number): Promise<never> {
  await Promise.race([held.stop({ revoke: true, wait: false }), new Promise((r) => setTimeout(r, REVOKE_BOUND_MS))]);
  process.exit(code);
}

async function keepFile(held: HeldCredential, file: string, format: CredentialFormat): Promise<void> {
  const write = (credential: Credentials) => writeAtomically(file, renderCredential(credential, format));
  write(held.current);
  held.on('renewed', write);
  held.on('rotated', write);
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await stopAndExit(held, 0);
}

async function runCommand(held: HeldCredential, command: string[]): Promise<void> {
  let child: ChildProcess;
  let stopping = false;
  const exited = (c: ChildProcess) =>
    new Promise<number>((resolve) =>
      c.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))),
    );
  const start = () => {
    child = spawn(command[0]!, command.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, ...credentialEnv(held.current) },
    });
    child.once('error', (error) =>
      process.stderr.write(`scaivault agent: cannot run ${command[0]}: ${error.message}\n`),
    );
    void exited(child).then((code) => {
      if (!restarting && !stopping) void stopAndExit(held, code);
    });
  };
  /** Ends the child: the signal, then SIGKILL after the grace time. */
  const end = async (c: ChildProcess, signal: NodeJS.Signals) => {
    if (c.exitCode !== null || c.signalCode !== null) return c.exitCode ?? 128 + constants.signals[c.signalCode!];
    const done = exited(c);
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), CHILD_GRACE_MS);
    const code = await done;
    clearTimeout(timer);
    return code;
  };
  let restarting = false;
  // The environment cannot change under a running process: a new credential means a restart with it.
  held.on('rotated', async () => {
    if (stopping) return;
    restarting = true;
    await end(child, 'SIGTERM');
    restarting = false;
    if (!stopping) start();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      await stopAndExit(held, await end(child, signal));
    });
  }
  start();
  await new Promise(() => {}); // the child's exit or a signal ends the agent
}
