import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Keyring } from './keyring';

export const ENCODING = 'binary/encrypted';
const METADATA_ENCODING_KEY = 'encoding';
const METADATA_KEY_ID = 'encryption-key-id';

/** A payload the product did not seal reached a worker or client that only takes sealed input. */
export class UnsealedPayloadError extends Error {
  constructor() {
    super(
      'refused a Temporal payload that ScaiVault did not seal: workflows and their messages only take sealed input',
    );
    this.name = 'UnsealedPayloadError';
  }
}

export interface EncryptionCodecOptions {
  /**
   * Pass payloads that are not sealed through unchanged instead of refusing them. Only the Web UI's codec
   * endpoint does this (it only shows payloads, never acts on them); workers and clients refuse, so
   * whoever reaches the Temporal frontend cannot have a worker run input the product did not seal.
   */
  passUnsealed?: boolean;
  /** Told of each refusal (the worker audits them). */
  onRefused?: () => void;
}

/**
 * Seals every payload Temporal stores (inputs, results, update and query results, memos, and, with
 * failure attributes encoded, error messages and stacks) with AES-256-GCM. The key id travels in the
 * payload's metadata, so keys can rotate and older ids still open.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keyring: Keyring,
    private readonly options: EncryptionCodecOptions = {},
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const { keyId, sealed } = this.keyring.seal(plain);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: new TextEncoder().encode(ENCODING),
          [METADATA_KEY_ID]: new TextEncoder().encode(keyId),
        },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || new TextDecoder().decode(encoding) !== ENCODING) {
        if (this.options.passUnsealed) return payload;
        this.options.onRefused?.();
        throw new UnsealedPayloadError();
      }
      const keyId = new TextDecoder().decode(payload.metadata![METADATA_KEY_ID]!);
      const plain = this.keyring.open(keyId, payload.data ?? new Uint8Array());
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}
