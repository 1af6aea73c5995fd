import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchEnv, type BenchEnv, type TemporalStorage } from './lib/env';
import { breakdownScenario } from './scenarios/breakdown';
import { cpuScenario } from './scenarios/cpu';
import { mintLiveLeases, type Figure, type ScenarioContext } from './scenarios/common';
import { expiryScenario, stormLever } from './scenarios/expiry';
import { targetFigures } from './targets';
import { checkoutRevision } from './lib/checkout';
import { chosenLevers, codeLever, LEVERS, leverScenario } from './scenarios/levers';
import { mintScenario } from './scenarios/mint';
import { revokeScenario } from './scenarios/revoke';
import { scaleScenario } from './scenarios/scale';
import { workflowCodeScenario } from './scenarios/workflow-code';

/**
 * `npm run bench [-- --quick] [--only cpu,workflow,levers,mint,breakdown,revoke,expiry,scale]
 * [--temporal=wal|rollback|memory] [--against=<rev>] [--storm-lever=<env>=<value>,<count>]
 * [--live=<n>] [--fill=<n>]`:
 * the product's figures on this machine, each beside a baseline measured in the same run; `--against` adds
 * a lever that runs API and worker from that revision against the working tree. One summary line per figure at the end;
 * everything in bench/results/<time>-<mode>.json.
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg
  ? (onlyArg.includes('=') ? onlyArg.split('=')[1]! : (args[args.indexOf(onlyArg) + 1] ?? '')).split(',')
  : undefined;
const wanted = (name: string) => !only || only.includes(name);
const against = args.find((a) => a.startsWith('--against='))?.split('=')[1];
/**
 * `--storm-lever=<WORKER_ENV>=<value>[+<WORKER_ENV>=<value>...][,<count>]`: an expiry storm of <count> with the
 * shipped worker, then with those settings (dotted names: the dev server's dynamic config; GO*: its Go runtime).
 */
const stormArg = args
  .find((a) => a.startsWith('--storm-lever='))
  ?.slice('--storm-lever='.length)
  .split(',');
const storm = stormArg
  ? {
      setting: Object.fromEntries(stormArg[0]!.split('+').map((pair) => pair.split('=') as [string, string])),
      count: Number(stormArg[1] ?? 3000),
    }
  : undefined;
const storage = (args.find((a) => a.startsWith('--temporal='))?.split('=')[1] ?? 'wal') as TemporalStorage;
/** `--fill=<n>`: mint that many leases of a day before the scenarios, so they run at that many live. */
const fillTo = Number(args.find((a) => a.startsWith('--fill='))?.split('=')[1]) || 0;
/** `--live=<n>`: the scale scenario's live leases (then three times as many), instead of the mode's. */
const liveArg = Number(args.find((a) => a.startsWith('--live='))?.split('=')[1]);
const sizes = {
  ...(quick
    ? { runSeconds: 2, wave: 0, storm: 60, live: 300, traced: 15, cpu: 200, lever: 200 }
    : { runSeconds: 12, wave: 600, storm: 5000, live: 10_000, traced: 100, cpu: 400, lever: 200 }),
  ...(liveArg > 0 ? { live: liveArg } : {}),
};

const started = Date.now();
const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

/**
 * Others share this Postgres and may restart it mid-run: a pooled pg client held at that moment emits an
 * 'error' nobody listens to. The operation it served fails and is counted; the run goes on and says so.
 */
const incidents: string[] = [];
let stopping = false;
process.on('uncaughtException', (error: Error & { code?: string }) => {
  const connectionLost = error.code === '57P01' || /Connection terminated|ECONNRESET|ECONNREFUSED/.test(error.message);
  if (!connectionLost) throw error;
  if (stopping) return; // the cleanup's DROP DATABASE ... WITH (FORCE) ends the run's own connections
  incidents.push(`${new Date().toISOString()} ${error.message}`);
  log(`connection lost (${error.message}): Postgres restarted under the run; figures around now are disturbed`);
});

/** What the run started and created, stopped and dropped once: at its end, or on Ctrl-C or a SIGTERM. */
let cleanUp: () => Promise<void> = async () => {};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

async function main() {
  log(
    `mode ${quick ? 'quick' : 'full'}: ${JSON.stringify(sizes)}; ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  let env: BenchEnv | undefined;
  const baseline = against ? checkoutRevision(against) : undefined;
  const figures: Figure[] = [];
  let failure: unknown;
  let cleaned: Promise<void> | undefined;
  cleanUp = () =>
    (cleaned ??= (async () => {
      stopping = true;
      log('cleaning up (processes, databases, roles)');
      await env?.close().catch((error) => console.error('cleanup failed:', error));
      baseline?.remove();
    })());
  try {
    env = await startBenchEnv(log, storage);
    const ctx: ScenarioContext = {
      env,
      quick,
      log,
      runSeconds: sizes.runSeconds,
      traced: sizes.traced,
      report: (figure) => figures.push(figure),
    };
    if (fillTo > 0) {
      // Everything after runs with this many live leases of a day (a lever judged at scale).
      const role = await env.defineRole(env.shapes.group, 'fill');
      const fill = await mintLiveLeases(env, role, fillTo);
      log(`  filled ${fill.ops} live leases (${fill.errors} errors)`);
    }
    if (wanted('cpu')) await cpuScenario(ctx, sizes.cpu);
    if (wanted('workflow')) await workflowCodeScenario(ctx, quick ? 100 : 300, baseline);
    if (wanted('levers'))
      await leverScenario(ctx, sizes.lever, chosenLevers(baseline ? [codeLever(baseline), ...LEVERS] : LEVERS));
    if (wanted('mint')) await mintScenario(ctx);
    if (wanted('breakdown')) await breakdownScenario(ctx);
    if (wanted('revoke')) await revokeScenario(ctx, quick ? 40 : 200);
    // The mint rate paces an expiry storm's minting; without the mint scenario, the cpu scenario's, or this
    // machine's typical rate (slower only makes the storm's expiry second come later).
    const measuredRate = (name: string) =>
      figures.find((f) => f.name === name)?.data as { api?: { rate?: number }; load?: { rate?: number } } | undefined;
    const groupRate = measuredRate('mint group c=16')?.api?.rate ?? measuredRate('cpu mint')?.load?.rate ?? 30;
    if (wanted('expiry')) {
      if (sizes.wave > 0) await expiryScenario(ctx, sizes.wave, groupRate);
      await expiryScenario(ctx, sizes.storm, groupRate);
    }
    if (storm) await stormLever(ctx, storm.count, storm.setting, groupRate);
    if (wanted('scale')) await scaleScenario(ctx, sizes.live);
    figures.push(...targetFigures(figures));
  } catch (error) {
    failure = error;
    console.error('benchmark failed:', error instanceof Error ? error.stack : error);
  } finally {
    await cleanUp();
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `${new Date(started).toISOString().replace(/[:.]/g, '-')}-${quick ? 'quick' : 'full'}.json`,
  );
  const elapsed = (Date.now() - started) / 1000;
  writeFileSync(
    file,
    JSON.stringify(
      {
        mode: quick ? 'quick' : 'full',
        temporalStorage: storage,
        started: new Date(started).toISOString(),
        elapsedSeconds: elapsed,
        sizes,
        machine: {
          cores: os.cpus().length,
          model: os.cpus()[0]?.model,
          memoryBytes: os.totalmem(),
          loadAverageAtEnd: os.loadavg(),
        },
        figures,
        incidents,
        failure: failure ? String(failure) : undefined,
      },
      null,
      2,
    ),
  );
  console.log(
    `\nsummary (${quick ? 'quick' : 'full'}, ${elapsed.toFixed(0)} s; each figure beside its same-run baseline):`,
  );
  for (const figure of figures) console.log(figure.line);
  if (incidents.length)
    console.log(`WARNING: ${incidents.length} lost connection(s) during the run (Postgres restarted by someone else?)`);
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  process.exit(failure ? 1 : 0);
}

void main();
