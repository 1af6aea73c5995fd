import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, parseMasterKeys } from '../../lib/keyring';
import { EncryptionCodec, UnsealedPayloadError } from '../../lib/payload-codec';

const master = () => randomBytes(32);

describe('keyring', () => {
  it('opens what it sealed, and refuses tampering or another context', () => {
    const ring = Keyring.derive([master()], 'secret-store');
    const { keyId, sealed } = ring.seal(Buffer.from('hello'), 'path#1');
    expect(ring.open(keyId, sealed, 'path#1').toString()).toBe('hello');
    expect(() => ring.open(keyId, sealed, 'path#2')).toThrow();
    const flipped = Buffer.from(sealed);
    flipped[14]! ^= 1;
    expect(() => ring.open(keyId, flipped, 'path#1')).toThrow();
  });

  it('derives different keys per purpose from one master key', () => {
    const key = master();
    expect(Keyring.derive([key], 'a').activeKeyId).not.toBe(Keyring.derive([key], 'b').activeKeyId);
  });

  it('seals with the newest key and still opens with retired ones', () => {
    const [oldKey, newKey] = [master(), master()];
    const before = Keyring.derive([oldKey], 'x').seal(Buffer.from('kept'));
    const rotated = Keyring.derive([newKey, oldKey], 'x');
    expect(rotated.open(before.keyId, before.sealed).toString()).toBe('kept');
    expect(rotated.seal(Buffer.from('new')).keyId).toBe(Keyring.derive([newKey], 'x').activeKeyId);
  });

  it('reads SCAIVAULT_MASTER_KEY and refuses keys of the wrong size', () => {
    const a = master().toString('base64');
    const b = master().toString('base64');
    expect(parseMasterKeys(`${a}, ${b}`)).toHaveLength(2);
    expect(() => parseMasterKeys(randomBytes(16).toString('base64'))).toThrow(/32-byte/);
  });
});

describe('payload codec', () => {
  it('round-trips payloads and leaves no plaintext in the encoded form', async () => {
    const codec = new EncryptionCodec(Keyring.derive([master()], 'temporal-payloads'));
    const payload = {
      metadata: { encoding: Buffer.from('json/plain') },
      data: Buffer.from('{"password":"s3cr3t-value"}'),
    };
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('s3cr3t');
    expect(Buffer.from(encoded!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    const [decoded] = await codec.decode([encoded!]);
    expect(Buffer.from(decoded!.data!).toString()).toBe('{"password":"s3cr3t-value"}');
    expect(Buffer.from(decoded!.metadata!.encoding!).toString()).toBe('json/plain');
  });

  it('refuses payloads it did not seal, so no worker acts on unsealed input', async () => {
    const codec = new EncryptionCodec(Keyring.derive([master()], 'temporal-payloads'));
    const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') };
    await expect(codec.decode([plain])).rejects.toThrow(UnsealedPayloadError);
    await expect(codec.decode([{ data: Buffer.from('1') }])).rejects.toThrow(UnsealedPayloadError);
  });

  it('passes unsealed payloads through only when told to (the Web UI codec endpoint shows, never acts)', async () => {
    const codec = new EncryptionCodec(Keyring.derive([master()], 'temporal-payloads'), { passUnsealed: true });
    const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') };
    expect(await codec.decode([plain])).toEqual([plain]);
  });
});
