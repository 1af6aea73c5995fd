import { DEFAULT_ADDRESS, ScaiVaultClient } from '../client';

/** A problem with how the CLI was called or set up, as opposed to an answer from the API. */
export class UsageError extends Error {}

/** The client for SCAIVAULT_ADDR (default http://127.0.0.1:8200) and SCAIVAULT_TOKEN (or a token source of the caller's). */
export function clientFromEnv(env: NodeJS.ProcessEnv = process.env, tokenSource?: () => string): ScaiVaultClient {
  const token = tokenSource ?? env.SCAIVAULT_TOKEN?.trim();
  if (!token) {
    throw new UsageError(
      'SCAIVAULT_TOKEN is not set: export SCAIVAULT_TOKEN=<your token> ' +
        '(the root token of a fresh `npm start` is in .data/root-token)',
    );
  }
  const address = env.SCAIVAULT_ADDR?.trim() || DEFAULT_ADDRESS;
  let url: URL | undefined;
  try {
    url = new URL(address);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(
      `SCAIVAULT_ADDR is not an http(s) address: export SCAIVAULT_ADDR=${DEFAULT_ADDRESS} (or your server's URL)`,
    );
  }
  return new ScaiVaultClient(address, token);
}
