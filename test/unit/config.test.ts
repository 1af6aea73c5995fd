import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL, loadConfig } from '../../lib/config';
import { temporalTransport } from '../../temporal/connection';

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8200,
      dataDir: path.resolve('.data'),
      databaseUrl: DEFAULT_DATABASE_URL,
    });
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      external: false,
      port: 7233,
      uiPort: 8233,
      namespace: 'default',
      taskQueue: 'scaivault',
    });
  });

  it('gives an instance with another data dir its own store database, unless DATABASE_URL says otherwise', () => {
    const a = loadConfig({ SCAIVAULT_DATA_DIR: '/tmp/instance-a' }).databaseUrl;
    const b = loadConfig({ SCAIVAULT_DATA_DIR: '/tmp/instance-b' }).databaseUrl;
    expect(a).not.toBe(DEFAULT_DATABASE_URL);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:5432\/scaivault_[0-9a-f]{10}$/);
    expect(loadConfig({ SCAIVAULT_DATA_DIR: '/tmp/instance-a', DATABASE_URL: 'postgres://x@h/db' }).databaseUrl).toBe(
      'postgres://x@h/db',
    );
  });

  it('uses an external Temporal server when TEMPORAL_ADDRESS is set', () => {
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }).temporal).toMatchObject({
      address: 'temporal:7233',
      external: true,
    });
  });

  it("sizes the worker's workflow-task polling as the SDK does unless told, and refuses a ratio outside (0, 1]", () => {
    expect(loadConfig({}).worker).toMatchObject({
      workflowPollers: 10,
      nonStickyPollRatio: 0.2,
      pollerAutoscaling: false,
    });
    expect(
      loadConfig({
        SCAIVAULT_WORKER_WORKFLOW_POLLERS: '40',
        SCAIVAULT_WORKER_NON_STICKY_POLL_RATIO: '0.5',
        SCAIVAULT_WORKER_POLLER_AUTOSCALING: 'true',
      }).worker,
    ).toMatchObject({ workflowPollers: 40, nonStickyPollRatio: 0.5, pollerAutoscaling: true });
    expect(() => loadConfig({ SCAIVAULT_WORKER_NON_STICKY_POLL_RATIO: '1.5' })).toThrow();
    expect(() => loadConfig({ SCAIVAULT_WORKER_NON_STICKY_POLL_RATIO: '0' })).toThrow();
  });

  it('refuses a non-numeric port', () => {
    expect(() => loadConfig({ SCAIVAULT_PORT: 'eighty' })).toThrow();
  });
});

describe('the Temporal transport', () => {
  it('is plaintext by default, TLS with the files named, and an API key implies TLS', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-transport-'));
    for (const name of ['ca.pem', 'c.pem', 'c.key']) writeFileSync(`${dir}/${name}`, `-----${name}-----`);
    expect(temporalTransport(loadConfig({}).temporal.transport)).toEqual({});
    const mtls = temporalTransport(
      loadConfig({
        TEMPORAL_TLS_CA: `${dir}/ca.pem`,
        TEMPORAL_TLS_CERT: `${dir}/c.pem`,
        TEMPORAL_TLS_KEY: `${dir}/c.key`,
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      }).temporal.transport,
    );
    expect(mtls.tls?.serverNameOverride).toBe('temporal.internal');
    expect(String(mtls.tls?.serverRootCACertificate)).toBe('-----ca.pem-----');
    expect(String(mtls.tls?.clientCertPair?.crt)).toBe('-----c.pem-----');
    expect(temporalTransport(loadConfig({ TEMPORAL_API_KEY: 'cloud-key' }).temporal.transport)).toEqual({
      tls: {},
      apiKey: 'cloud-key',
    });
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: `${dir}/c.pem` })).toThrow(/go together/);
    expect(() => loadConfig({ SCAIVAULT_TLS_KEY: `${dir}/c.key` })).toThrow(/go together/);
  });
});
