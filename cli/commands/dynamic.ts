import { Command } from 'commander';
import { clientFromEnv, UsageError } from '../env';
import { positiveInt, printFields, printJson, printTable, printWarnings } from '../output';

const LEASE_COLUMNS = ['lease_id', 'role', 'state', 'username', 'identity_id', 'expires_at'];

export function dynamicCommand(): Command {
  const dynamic = new Command('dynamic').description('dynamic database credentials');
  const leases = dynamic.command('leases').description('leases of dynamic credentials');

  leases
    .command('list')
    .description('list leases of an engine (active ones unless --state says otherwise)')
    .requiredOption('--engine <name>', 'engine name')
    .option('--role <role>', 'only this role')
    .option('--state <state>', 'active, revoking, revoked, expired, revocation_failed, or all', 'active')
    .option('--page-size <n>', 'leases fetched per request (every page is fetched)', positiveInt)
    .option('--json', 'print the leases as the API gives them, every page in one "data" list')
    .action(async (opts: { engine: string; role?: string; state: string; pageSize?: number; json?: boolean }) => {
      const leases = await clientFromEnv().allLeases({
        engine: opts.engine,
        role: opts.role,
        state: opts.state === 'all' ? undefined : opts.state,
        pageSize: opts.pageSize,
      });
      if (opts.json) printJson({ data: leases });
      else printTable(leases as unknown as Array<Record<string, unknown>>, LEASE_COLUMNS);
    });

  leases
    .command('renew <lease_id>')
    .description('extend a lease (by the role default unless --increment is given)')
    .option('--increment <duration>', 'for example 1h')
    .option('--json', "print the API's JSON unchanged")
    .action(async (leaseId: string, opts: { increment?: string; json?: boolean }) => {
      const lease = await clientFromEnv().renewLease(leaseId, opts.increment);
      if (opts.json) return printJson(lease);
      printWarnings(lease.warnings);
      printFields({
        lease_id: lease.lease_id,
        state: lease.state,
        expires_at: lease.expires_at,
        max_expires_at: lease.max_expires_at,
      });
    });

  leases
    .command('revoke <lease_id>')
    .description('revoke a lease now; its database user is dropped')
    .option('--force', 'end the lease even if revocation statements fail')
    .option('--no-wait', 'answer once the revocation is durably requested; the user is dropped moments later')
    .option('--json', "print the API's JSON unchanged")
    .action(async (leaseId: string, opts: { force?: boolean; wait: boolean; json?: boolean }) => {
      if (opts.force && !opts.wait) throw new UsageError('--force and --no-wait do not combine');
      const pending = await clientFromEnv().revokeLease(leaseId, { force: opts.force, wait: opts.wait });
      if (opts.json) return printJson(pending ?? {});
      if (!pending) return void process.stdout.write(`revoked ${leaseId}\n`);
      if (!opts.wait)
        return void process.stdout.write(`revocation of ${leaseId} requested; its user is dropped shortly\n`);
      printWarnings(pending.warnings);
      process.stdout.write(`revocation of ${leaseId} is being retried (state ${pending.state})\n`);
    });

  dynamic
    .command('creds <engine> <role>')
    .description('mint credentials: a new database user under a lease')
    .option('--ttl <duration>', 'for example 1h')
    .option('--json', "print the API's JSON unchanged")
    .action(async (engine: string, role: string, opts: { ttl?: string; json?: boolean }) => {
      if (opts.ttl !== undefined && !opts.ttl.trim()) throw new UsageError('--ttl needs a duration such as 1h');
      const creds = await clientFromEnv().generateCredentials(engine, role, { ttl: opts.ttl });
      if (opts.json) return printJson(creds);
      printWarnings(creds.warnings);
      printFields({
        lease_id: creds.lease_id,
        lease_duration: creds.lease_duration,
        expires_at: creds.expires_at,
        ...creds.data,
      });
    });

  return dynamic;
}
