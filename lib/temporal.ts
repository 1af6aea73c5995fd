import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import path from 'node:path';
import { EncryptionCodec } from './payload-codec';
import type { Keyring } from './keyring';

/** Loaded by path, because the failure converter also runs inside the workflow sandbox. */
export const FAILURE_CONVERTER_PATH = path.join(__dirname, 'failure-converter.ts');

/** The one data converter every client and worker of the product uses: payloads and failures encrypted. */
export function dataConverter(keyring: Keyring): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(keyring)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}

export async function connectClient(address: string, namespace: string, keyring: Keyring): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace, dataConverter: dataConverter(keyring) });
}
