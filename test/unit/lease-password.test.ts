import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { leasePasswordSeal, payloadKeyring } from '../../store';
import { EncryptionCodec } from '../../lib/payload-codec';

describe("a lease's password in Temporal", () => {
  const masterKeys = [randomBytes(32)];
  const seal = leasePasswordSeal(masterKeys);

  it('is sealed, opens for its own lease only, and stays sealed through the payload codec', async () => {
    const sealed = seal.seal('Pa55wordFromTheGenerator', 'lease_a');
    expect(sealed).toMatch(/^sealed:v1:/);
    expect(sealed).not.toContain('Pa55word');
    expect(seal.open(sealed, 'lease_a')).toBe('Pa55wordFromTheGenerator');
    expect(() => seal.open(sealed, 'lease_b')).toThrow();
    // What the codec endpoint does for the Web UI: open the payload, and find the password still sealed.
    const codec = new EncryptionCodec(payloadKeyring(masterKeys));
    const payload = {
      metadata: { encoding: new TextEncoder().encode('json/plain') },
      data: new TextEncoder().encode(JSON.stringify({ password: sealed })),
    };
    const [decoded] = await codec.decode(await codec.encode([payload]));
    expect(new TextDecoder().decode(decoded!.data)).not.toContain('Pa55word');
  });

  it('opens with another master key never, and passes a password recorded before sealing through unchanged', () => {
    const sealed = seal.seal('secret', 'lease_a');
    expect(() => leasePasswordSeal([randomBytes(32)]).open(sealed, 'lease_a')).toThrow();
    expect(seal.open('PlainFromAnOlderLease', 'lease_a')).toBe('PlainFromAnOlderLease');
  });
});
