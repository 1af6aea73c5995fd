import { Command, InvalidArgumentError } from 'commander';
import { clientFromEnv, UsageError } from '../env';
import { printFields, printJson } from '../output';

/** `key=value` pairs; a value may itself contain "=". */
function parsePairs(pairs: string[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`"${pair.split('=')[0]}..." is not key=value`);
    data[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return data;
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('must be a JSON object');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgumentError('must be a JSON object');
  return value as Record<string, unknown>;
}

export function secretsCommand(): Command {
  const secrets = new Command('secrets').description('versioned key/value secrets');

  secrets
    .command('put <path> [pairs...]')
    .description('write a new version: key=value pairs, or --data with a JSON object')
    .option('--data <json>', 'the whole value as a JSON object', parseJsonObject)
    .option('--type <secret_type>', 'secret_type, default json')
    .option('--json', "print the API's JSON unchanged")
    .action(
      async (
        path: string,
        pairs: string[],
        opts: { data?: Record<string, unknown>; type?: string; json?: boolean },
      ) => {
        if (pairs.length && opts.data) throw new UsageError('give key=value pairs or --data, not both');
        if (!pairs.length && !opts.data)
          throw new UsageError('nothing to write: give key=value pairs or --data \'{"key": "value"}\'');
        const written = await clientFromEnv().putSecret(path, opts.data ?? parsePairs(pairs), opts.type);
        if (opts.json) printJson(written);
        else printFields({ ...written });
      },
    );

  secrets
    .command('get <path>')
    .description('read a secret (the current version unless --version)')
    .option('--version <n>', 'a version number', (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('must be a positive whole number');
      return Number(v);
    })
    .option('--json', "print the API's JSON unchanged")
    .action(async (path: string, opts: { version?: number; json?: boolean }) => {
      const secret = await clientFromEnv().getSecret(path, opts.version);
      if (opts.json) return printJson(secret);
      printFields({
        path: secret.path,
        version: secret.version,
        state: secret.state,
        secret_type: secret.secret_type,
        created_at: secret.created_at,
      });
      process.stdout.write('\n');
      printFields(secret.data);
    });

  return secrets;
}
