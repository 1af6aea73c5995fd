import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../../cli/program';

const manifest = parse(readFileSync(path.resolve(__dirname, '../../deploy/kubernetes/app-with-agent.yaml'), 'utf8'));
const pod = manifest.spec.template.spec;
const agent = pod.initContainers.find((c: { name: string }) => c.name === 'scaivault-agent');
const app = pod.containers.find((c: { name: string }) => c.name === 'app');

describe('the Kubernetes example', () => {
  it('runs the agent as a native sidecar beside the app, sharing an in-memory volume', () => {
    expect(manifest).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
    expect(agent.restartPolicy).toBe('Always');
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'credentials');
    expect(volume.emptyDir.medium).toBe('Memory');
    for (const container of [agent, app])
      expect(container.volumeMounts.map((m: { name: string }) => m.name)).toContain('credentials');
    expect(app.volumeMounts.find((m: { name: string }) => m.name === 'credentials').readOnly).toBe(true);
  });

  it('gives the agent arguments the CLI accepts, the token from a Secret file, and a preStop that revokes', () => {
    const options = Object.fromEntries((agent.args as string[]).slice(1).map((a) => a.replace(/^--/, '').split('=')));
    expect(agent.args[0]).toBe('agent');
    const command = buildProgram().commands.find((c) => c.name() === 'agent')!;
    const known = command.options.map((o) => o.long!.replace(/^--/, ''));
    for (const name of Object.keys(options)) expect(known).toContain(name);
    expect(options).toMatchObject({
      engine: 'reporting-db',
      role: 'readonly',
      format: 'env',
      'token-file': '/var/run/scaivault/token',
    });
    const tokenVolume = pod.volumes.find((v: { name: string }) => v.name === 'scaivault-token');
    expect(tokenVolume.secret.secretName).toBeTruthy();
    const tokenMount = agent.volumeMounts.find((m: { name: string }) => m.name === 'scaivault-token');
    expect(options['token-file'].startsWith(tokenMount.mountPath)).toBe(true);
    expect(agent.lifecycle.preStop.exec.command.join(' ')).toMatch(/kill -TERM 1/);
    expect(options.out.startsWith('/credentials/')).toBe(true);
    expect(app.command.join(' ')).toContain(options.out);
  });
});
