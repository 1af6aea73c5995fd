import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postToReceiver, ReceiverRefused } from '../../activities/receiver-post';
import { parseReceiverAllowList } from '../../lib/receiver-address';

/** Webhook deliveries against a real receiver on loopback: what an internal address gets is nothing at all. */
describe('webhook receivers at internal addresses', () => {
  const received: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    received.push(request);
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  let port: number;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const post = (url: string, allow = parseReceiverAllowList(undefined)) =>
    postToReceiver(url, { 'x-scaivault-event': 'secret.rotated' }, '{"probe":true}', { timeoutMs: 5_000, allow });

  it.each([
    ['a loopback IP', () => `http://127.0.0.1:${port}/hook`, /127\.0\.0\.1 is loopback/],
    [
      'a name that resolves to loopback (checked as it resolves, so a rebinding name is caught too)',
      () => `http://localhost:${port}/hook`,
      /is loopback/,
    ],
    ['cloud metadata, link-local', () => 'http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is linkLocal/],
    [
      'link-local as an IPv4-mapped IPv6 literal',
      () => 'http://[::ffff:169.254.169.254]/',
      /169\.254\.169\.254 is linkLocal/,
    ],
    ['a private range', () => 'http://10.0.0.7/hook', /10\.0\.0\.7 is private/],
  ])('refuses %s, and sends it nothing', async (_label, url, reason) => {
    const before = received.length;
    const refused = await post(url()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ReceiverRefused);
    expect((refused as Error).message).toMatch(reason);
    expect(received.length).toBe(before);
  });

  it('delivers to an allow-listed range', async () => {
    const before = received.length;
    expect(await post(`http://127.0.0.1:${port}/hook`, parseReceiverAllowList('127.0.0.0/8'))).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)!.headers['x-scaivault-event']).toBe('secret.rotated');
  });

  it('cuts off a receiver that answers a byte at a time, within the delivery timeout', async () => {
    const dripping = createServer((_request, response) => {
      response.writeHead(200);
      const drip = setInterval(() => response.write('.'), 100);
      response.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => dripping.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const url = `http://127.0.0.1:${(dripping.address() as AddressInfo).port}/hook`;
      await expect(
        postToReceiver(url, {}, '{}', { timeoutMs: 600, allow: parseReceiverAllowList('127.0.0.0/8') }),
      ).rejects.toThrow(/no complete answer within 600 ms/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      dripping.closeAllConnections();
      await new Promise((resolve) => dripping.close(resolve));
    }
  });

  it('an allow list for one range opens no other', async () => {
    await expect(post(`http://127.0.0.1:${port}/hook`, parseReceiverAllowList('10.0.0.0/8'))).rejects.toBeInstanceOf(
      ReceiverRefused,
    );
  });
});
