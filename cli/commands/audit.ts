import { Command } from 'commander';
import { clientFromEnv } from '../env';
import { positiveInt, printFields, printJson, printTable } from '../output';

export function auditCommand(): Command {
  const audit = new Command('audit').description('the chained, append-only audit log');

  audit
    .command('query')
    .description('audit entries, newest first')
    .option('--action <action>', 'for example dynamic_generate')
    .option('--identity <identity_id>', 'for example svc:reporting')
    .option('--since <time>', 'RFC 3339 instant, or a duration ago such as 1h')
    .option('--until <time>', 'RFC 3339 instant, or a duration ago such as 10m')
    .option('--limit <n>', 'at most this many entries (1-1000)', positiveInt)
    .option('--cursor <cursor>', 'next_cursor of a previous page')
    .option('--json', "print the API's JSON unchanged")
    .action(
      async (opts: {
        action?: string;
        identity?: string;
        since?: string;
        until?: string;
        limit?: number;
        cursor?: string;
        json?: boolean;
      }) => {
        const page = await clientFromEnv().queryAudit({
          action: opts.action,
          identity_id: opts.identity,
          since: opts.since,
          until: opts.until,
          limit: opts.limit,
          cursor: opts.cursor,
        });
        if (opts.json) return printJson(page);
        printTable(
          page.logs.map((e) => ({ ...e, lease_id: e.extra_data.lease_id })),
          ['timestamp', 'identity_id', 'action', 'path', 'result', 'lease_id'],
        );
        if (page.next_cursor) process.stdout.write(`more: --cursor ${page.next_cursor}\n`);
      },
    );

  audit
    .command('verify')
    .description('check the chain and its newest checkpoint; exits 1 at the first broken link or a missing tail')
    .option('--json', "print the API's JSON unchanged")
    .action(async (opts: { json?: boolean }) => {
      const verdict = await clientFromEnv().verifyAudit();
      if (opts.json) printJson(verdict);
      else if (verdict.valid) {
        const against = verdict.checkpoint
          ? `, up to and past the checkpoint of ${verdict.checkpoint.at} (entry ${verdict.checkpoint.last_id})`
          : verdict.checkpoint_unavailable
            ? ` (no checkpoint compared: ${verdict.checkpoint_unavailable})`
            : ' (no checkpoint yet)';
        process.stdout.write(`audit chain intact: ${verdict.checked} entries checked${against}\n`);
      } else {
        printFields({
          status: 'BROKEN',
          first_broken_id: verdict.first_broken_id,
          reason: verdict.reason,
          intact_before_it: verdict.checked,
        });
      }
      if (!verdict.valid) process.exitCode = 1;
    });

  return audit;
}
