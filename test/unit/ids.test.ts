import { describe, expect, it } from 'vitest';
import { chosenIdSchema, idSchema } from '../../api/schemas';
import { newId, newLeaseId } from '../../lib/random';

describe('ids', () => {
  it('every generated id is accepted where ids are taken: as a route parameter and as a chosen id', () => {
    for (const prefix of ['lease', 'tok', 'pol', 'wh', 'sp', 'rot', 'dlv']) {
      for (let i = 0; i < 200; i++) {
        const id = prefix === 'lease' ? newLeaseId() : newId(prefix);
        expect(idSchema(prefix).safeParse(id).success, id).toBe(true);
        expect(chosenIdSchema(prefix).safeParse(id).success, id).toBe(true);
      }
    }
  });

  it('a lease id carries at least 144 bits, other ids at least 72', () => {
    const symbols = (id: string) => id.slice(id.indexOf('_') + 1).length;
    expect(symbols(newLeaseId()) * Math.log2(36)).toBeGreaterThanOrEqual(144);
    expect(symbols(newId('pol')) * Math.log2(36)).toBeGreaterThanOrEqual(72);
    expect(new Set(Array.from({ length: 1000 }, newLeaseId)).size).toBe(1000);
  });

  it('ids made before the one alphabet (base64url) and rotation ids (hex, from workflow code) stay valid', () => {
    expect(idSchema('lease').safeParse('lease_Ab-_9zQ0xYw3LmN2pR4sT6uV').success).toBe(true);
    expect(idSchema('rtn').safeParse('rtn_0f3c9a1b2d4e5f60718293a4b5c6d7e8').success).toBe(true);
    expect(idSchema('lease').safeParse('pol_abc').success).toBe(false);
    expect(idSchema('lease').safeParse("lease_x'; DROP").success).toBe(false);
  });
});
