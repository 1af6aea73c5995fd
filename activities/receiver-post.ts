import { lookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { receiverAddressProblem, type ReceiverAllowList } from '../lib/receiver-address';

export class ReceiverRefused extends Error {
  override name = 'ReceiverRefused';
}

/**
 * Resolves the receiver's name as a connection would, and refuses the connection when any address it
 * resolves to is not allowed: the check holds at connect time, so a name that changes its answer
 * (DNS rebinding) cannot point a delivery at an internal address after the webhook was registered.
 */
const guardedLookup =
  (allow: ReceiverAllowList): LookupFunction =>
  (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.map((a) => receiverAddressProblem(a.address, allow)).find(Boolean);
      if (refused) return callback(new ReceiverRefused(refused), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

/**
 * POSTs to a webhook receiver: no redirects followed, a bounded time, the response body discarded. An IP
 * literal is checked before connecting; a name, by `guardedLookup` as it is resolved.
 */
export function postToReceiver(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allow: ReceiverAllowList },
): Promise<number> {
  const target = new URL(url);
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (/^[\d.]+$|:/.test(literal)) {
    const refused = receiverAddressProblem(literal, options.allow);
    if (refused) return Promise.reject(new ReceiverRefused(refused));
  }
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        lookup: guardedLookup(options.allow),
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          clearTimeout(deadline);
          resolve(response.statusCode ?? 0);
        });
        response.on('error', reject);
      },
    );
    // The whole exchange, not each pause: a receiver that answers a byte at a time is cut off too.
    const deadline = setTimeout(
      () => request.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    request.on('error', (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    request.end(body);
  });
}
