import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../scripts/temporal-cli';
import { nodeFlagsFor } from '../../worker/node-flags';

/**
 * The production compose file and the product's Dockerfile, checked for what can be checked without a
 * Docker engine: they parse, every service is wired, every image is pinned, each process gets the env it
 * needs and runs a command that exists.
 */
const ROOT = path.resolve(__dirname, '..', '..');
/** What the tests read of a compose service. */
interface Service {
  image: string;
  build: { context: string; dockerfile: string };
  depends_on?: Record<string, unknown>;
  environment: Record<string, string>;
  command: string[];
  healthcheck: { test: string[] };
  profiles?: string[];
  container_name?: string;
  ports?: string[];
  volumes?: string[];
}
// Merge keys (`<<: *product`), as compose reads them.
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service> & Record<'temporal' | 'temporal-ui' | 'temporal-dev' | 'api' | 'worker', Service>;
};
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const services = compose.services;

describe('docker-compose.yml', () => {
  it('pins every image and wires every dependency to a service it defines', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(service.image, name).not.toMatch(/:latest$/);
      for (const dependency of Object.keys(service.depends_on ?? {}))
        expect(Object.keys(services), `${name} -> ${dependency}`).toContain(dependency);
    }
  });

  it(
    'runs the cluster shape: Temporal on PostgreSQL, its UI on the codec endpoint, ' +
      'API and worker from the product image',
    () => {
      expect(services.temporal.image).toMatch(/^temporalio\/auto-setup:/);
      expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
      expect(services['temporal-ui'].environment.TEMPORAL_CODEC_ENDPOINT).toMatch(/:8200\/v1\/sys\/codec$/);
      expect(services['temporal-dev'].profiles).toEqual(['dev']);
      for (const name of ['api', 'worker', 'migrate']) {
        expect(services[name]!.build, name).toMatchObject({ context: '.', dockerfile: 'Dockerfile' });
        expect(existsSync(path.join(ROOT, services[name]!.build.dockerfile))).toBe(true);
      }
      // Scalable: no fixed name or host port on the worker.
      expect(services.worker.container_name).toBeUndefined();
      expect(services.worker.ports).toBeUndefined();
    },
  );

  it(
    'runs Temporal with the dynamic config the product needs: updates and update-with-start on, the dev ' +
      "server's settings too",
    () => {
      const [source, target] = services.temporal.volumes!.find((v) => v.includes('dynamicconfig'))!.split(':');
      expect(path.posix.join('/etc/temporal', services.temporal.environment.DYNAMIC_CONFIG_FILE_PATH!)).toBe(target);
      const values = Object.fromEntries(
        Object.entries(
          parse(readFileSync(path.join(ROOT, source!), 'utf8')) as Record<string, { value: unknown }[]>,
        ).map(([key, [setting]]) => [key, setting!.value]),
      );
      expect(values).toEqual({
        'frontend.enableUpdateWorkflowExecution': true,
        'frontend.enableExecuteMultiOperation': true,
        ...DEV_SERVER_DYNAMIC_CONFIG,
      });
      // Update-with-start needs server 1.26.2 or later.
      const [major, minor, patch] = services.temporal.image.split(':')[1]!.split('.').map(Number);
      expect(major! * 1e6 + minor! * 1e3 + patch!).toBeGreaterThanOrEqual(1_026_002);
      // The opt-in dev server takes the same settings.
      for (const [key, value] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG))
        expect(services['temporal-dev'].command).toContain(`--dynamic-config-value=${key}=${value}`);
    },
  );

  it('gives the API and the worker the configuration they need, and commands that exist', () => {
    for (const name of ['api', 'worker', 'migrate']) {
      const { command, environment } = services[name]!;
      const env = Object.fromEntries(
        Object.entries(environment).map(([k, v]) => [k, String(v).replace(/\$\{[^}]+\}/, 'A'.repeat(43) + '=')]),
      );
      for (const variable of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'SCAIVAULT_MASTER_KEY'])
        expect(env[variable], `${name} ${variable}`).toBeTruthy();
      expect(() => loadConfig(env), name).not.toThrow();
      const entry = command[command.length - 1]!;
      const flags = command.slice(1, -1).map((flag) => (flag.startsWith('./') ? path.join(ROOT, flag) : flag));
      expect(command[0], name).toBe('node');
      expect(flags, name).toEqual(nodeFlagsFor(entry));
      expect(existsSync(path.join(ROOT, entry)), `${name}: ${entry}`).toBe(true);
    }
    expect(services.api.environment.SCAIVAULT_HOST).toBe('0.0.0.0');
    expect(services.api.healthcheck.test.join(' ')).toContain('/v1/sys/ready');
    const db = new URL(services.api.environment.DATABASE_URL!);
    expect(db.hostname).toBe('postgres');
  });
});

describe('the Dockerfile', () => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
  it(
    'builds in stages from a pinned Node 20 image, installs from the lock file without dev dependencies, ' +
      'and runs as a user',
    () => {
      expect(froms.length).toBeGreaterThanOrEqual(2);
      for (const image of froms) expect(image).toMatch(/^node:20\.\d+\.\d+-/);
      expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
      expect(dockerfile).toMatch(/^USER (?!root)\w+/m);
      const cmd = JSON.parse(dockerfile.match(/^CMD (.+)$/m)![1]!) as string[];
      expect(existsSync(path.join(ROOT, cmd[cmd.length - 1]!))).toBe(true);
    },
  );

  it('copies every source folder the processes load, and tsx is a runtime dependency', () => {
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1]!);
    // Every top-level folder of product code (not tests, benchmarks or deployment examples).
    const sourceFolders = readdirSync(ROOT, { withFileTypes: true })
      .filter(
        (e) =>
          e.isDirectory() && !e.name.startsWith('.') && !['node_modules', 'test', 'bench', 'deploy'].includes(e.name),
      )
      .filter((e) =>
        readdirSync(path.join(ROOT, e.name), { recursive: true }).some((f) => /\.(ts|js)$/.test(String(f))),
      )
      .map((e) => e.name);
    expect(sourceFolders).toEqual(expect.arrayContaining(['api', 'lib', 'temporal', 'workflows']));
    for (const folder of sourceFolders) expect(copied, folder).toContain(folder);
    for (const folder of copied) expect(existsSync(path.join(ROOT, folder)), folder).toBe(true);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.dependencies.tsx).toBeDefined();
  });
});
