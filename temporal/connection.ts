import { Client, Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TemporalTransportConfig } from '../lib/config';
import { temporal } from '@temporalio/proto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EncryptionCodec, type EncryptionCodecOptions } from '../lib/payload-codec';
import type { Keyring } from '../lib/keyring';
import { LeaseSearchKeys } from '../lib/search-attributes';

/** Loaded by path, because the failure converter also runs inside the workflow sandbox. */
export const FAILURE_CONVERTER_PATH = path.join(__dirname, '..', 'lib', 'failure-converter.ts');

/** The one data converter every client and worker of the product uses: payloads and failures encrypted. */
export function dataConverter(keyring: Keyring, codecOptions: EncryptionCodecOptions = {}): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(keyring, codecOptions)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}

/** The connection options a transport configuration stands for (files read now); plaintext when empty. */
export function temporalTransport(config: TemporalTransportConfig = {}): { tls?: TLSConfig; apiKey?: string } {
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const tls = config.tls && {
    serverNameOverride: config.tls.serverName,
    serverRootCACertificate: read(config.tls.caFile),
    clientCertPair:
      config.tls.certFile && config.tls.keyFile
        ? { crt: read(config.tls.certFile)!, key: read(config.tls.keyFile)! }
        : undefined,
  };
  // An API key (Temporal Cloud) implies TLS, with the system's roots when no CA is given.
  return { ...(tls || config.apiKey ? { tls: tls ?? {} } : {}), ...(config.apiKey ? { apiKey: config.apiKey } : {}) };
}

export async function connectClient(
  address: string,
  namespace: string,
  keyring: Keyring,
  transport?: TemporalTransportConfig,
): Promise<Client> {
  const connection = await Connection.connect({ address, ...temporalTransport(transport) });
  return new Client({ connection, namespace, dataConverter: dataConverter(keyring) });
}

const INDEXED_VALUE_TYPES = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
} as const;

/**
 * Registers the lease search attributes in the namespace if they are missing (an external server;
 * the dev stack registers them at start). A workflow that upserts an unknown attribute would stall.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.values(LeaseSearchKeys).filter(({ name }) => !customAttributes?.[name]);
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(({ name, type }) => [name, INDEXED_VALUE_TYPES[type]])),
  });
}
