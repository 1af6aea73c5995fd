import { Command } from 'commander';
import { clientFromEnv } from '../env';
import { printFields, printJson } from '../output';

export function authCommand(): Command {
  const auth = new Command('auth').description('tokens and identities');

  auth
    .command('whoami')
    .description('the identity, scopes and policies of SCAIVAULT_TOKEN')
    .option('--json', "print the API's JSON unchanged")
    .action(async (opts: { json?: boolean }) => {
      const me = await clientFromEnv().whoami();
      if (opts.json) printJson(me);
      else printFields({ ...me });
    });

  return auth;
}
