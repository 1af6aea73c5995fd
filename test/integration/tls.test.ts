import { request as httpsRequest } from 'node:https';
import { connect, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildServer } from '../../api/server';
import { connectClient } from '../../temporal/connection';
import { payloadKeyring } from '../../store';
import { createWorker } from '../../worker/worker';
import { makeCertificates, type TestCertificates } from '../support/certs';
import { withGuideStack, type GuideContext } from '../support/guide';
import { roleExists, uniqueName } from '../support/postgres';

/** HTTPS for the API, and mTLS between the product and Temporal, with certificates made for the test. */
let c: GuideContext;
let certs: TestCertificates;
withGuideStack({ withGrantOption: true }, (context) => (c = context));
beforeAll(() => void (certs = makeCertificates()));
afterAll(() => certs && rmSync(certs.dir, { recursive: true, force: true }));

const get = (port: number, url: string, headers: Record<string, string> = {}, method = 'GET') =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: url, method, headers, ca: certs.read(certs.caFile), servername: 'localhost' },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
      },
    );
    req.once('error', reject);
    req.end();
  });

describe('the API over HTTPS', () => {
  it('serves HTTPS with HSTS, gives a Secure session cookie, and refuses plain HTTP', async () => {
    const app = await buildServer({
      stores: c.stack.stores,
      temporal: c.stack.temporal,
      taskQueue: c.stack.taskQueue,
      masterKeys: c.stack.masterKeys,
      logLevel: 'silent',
      https: { cert: certs.read(certs.serverCertFile), key: certs.read(certs.serverKeyFile) },
    });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const health = await get(port, '/v1/sys/health');
      expect(health.status).toBe(200);
      expect(health.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      const session = await get(
        port,
        '/v1/sys/codec/session',
        { authorization: `Bearer ${c.stack.rootToken}` },
        'POST',
      );
      expect(session.status).toBe(200);
      expect(String(session.headers['set-cookie'])).toMatch(/; Secure/);
      await expect(fetch(`http://127.0.0.1:${port}/v1/sys/health`)).rejects.toThrow();
    } finally {
      await app.close();
    }
  });
});

describe('the product and Temporal over mTLS', () => {
  let proxy: Server;
  let proxyPort: number;
  beforeAll(async () => {
    // A TLS front for the suite's dev server that demands a client certificate from our CA.
    const [host, port] = inject('temporalAddress').split(':') as [string, string];
    proxy = createTlsServer(
      {
        key: certs.read(certs.serverKeyFile),
        cert: certs.read(certs.serverCertFile),
        ca: certs.read(certs.caFile),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        const upstream = connect(Number(port), host);
        socket.pipe(upstream).pipe(socket);
        socket.once('error', () => upstream.destroy());
        upstream.once('error', () => socket.destroy());
      },
    ) as unknown as Server;
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyPort = (proxy.address() as { port: number }).port;
  });
  afterAll(() => new Promise((resolve) => proxy?.close(resolve)));

  it(
    'issues and revokes a lease with the API and the worker both on mTLS; ' +
      'without a client certificate Temporal is unreachable',
    async () => {
      const transport = {
        tls: {
          certFile: certs.clientCertFile,
          keyFile: certs.clientKeyFile,
          caFile: certs.caFile,
          serverName: 'localhost',
        },
      };
      const address = `127.0.0.1:${proxyPort}`;
      const taskQueue = uniqueName('tq_mtls');
      const temporal = await connectClient(address, 'default', payloadKeyring(c.stack.masterKeys), transport);
      const worker = await createWorker({
        stores: c.stack.stores,
        masterKeys: c.stack.masterKeys,
        address,
        namespace: 'default',
        taskQueue,
        transport,
        workflowBundle: { code: readFileSync(inject('workflowBundlePath'), 'utf8') },
      });
      const running = worker.worker.run();
      const app = await buildServer({
        stores: c.stack.stores,
        temporal,
        taskQueue,
        masterKeys: c.stack.masterKeys,
        logLevel: 'silent',
      });
      try {
        const minted = await app.inject({
          method: 'POST',
          url: `/v1/dynamic/engines/${c.engine}/creds/readonly`,
          headers: { authorization: `Bearer ${c.stack.rootToken}` },
          payload: {},
        });
        expect(minted.statusCode, minted.body).toBe(200);
        const lease = minted.json();
        expect(await roleExists(lease.data.username)).toBe(true);
        const revoked = await app.inject({
          method: 'DELETE',
          url: `/v1/dynamic/leases/${lease.lease_id}`,
          headers: { authorization: `Bearer ${c.stack.rootToken}` },
        });
        expect(revoked.statusCode).toBe(204);
        expect(await roleExists(lease.data.username)).toBe(false);
      } finally {
        await app.close();
        worker.worker.shutdown();
        await running;
        await worker.close();
        await temporal.connection.close();
      }
      // The same server refuses a client without a certificate (and, without TLS, the handshake itself).
      await expect(
        Promise.race([
          connectClient(address, 'default', payloadKeyring(c.stack.masterKeys), {
            tls: { caFile: certs.caFile, serverName: 'localhost' },
          }).then((client) => client.workflowService.getSystemInfo({})),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 15_000)),
        ]),
      ).rejects.toThrow();
    },
    90_000,
  );
});
