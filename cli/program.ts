import { Command } from 'commander';
import { agentCommand } from './commands/agent';
import { auditCommand } from './commands/audit';
import { authCommand } from './commands/auth';
import { dynamicCommand } from './commands/dynamic';
import { secretsCommand } from './commands/secrets';

export function buildProgram(): Command {
  return new Command('scaivault')
    .description(
      'ScaiVault from the command line. Reads SCAIVAULT_ADDR (default http://127.0.0.1:8200) and SCAIVAULT_TOKEN.',
    )
    .showHelpAfterError()
    .addCommand(dynamicCommand())
    .addCommand(agentCommand())
    .addCommand(auditCommand())
    .addCommand(authCommand())
    .addCommand(secretsCommand());
}
