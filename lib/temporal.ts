import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './payload-codec';
import type { Keyring } from './keyring';

/** The one data converter every client and worker of the product uses: payloads and failures encrypted. */
export function dataConverter(keyring: Keyring): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(keyring)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}

export async function connectClient(address: string, namespace: string, keyring: Keyring): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace, dataConverter: dataConverter(keyring) });
}
