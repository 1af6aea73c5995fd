import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, pageOf } from '../../lib/pagination';

describe('pageOf', () => {
  it('walks a sorted list page by page, each item once, and ends with next_cursor null', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 })),
        fc.integer({ min: 1, max: 7 }),
        (names, limit) => {
          const sorted = [...names].sort();
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages <= sorted.length + 1; pages++) {
            const page = pageOf(names, (n) => n, { limit, cursor });
            expect(page.data.length).toBeLessThanOrEqual(limit);
            seen.push(...page.data);
            if (page.next_cursor === null) break;
            cursor = page.next_cursor;
          }
          expect(seen).toEqual(sorted);
        },
      ),
    );
  });

  it('refuses a cursor it did not make', () => {
    expect(() => decodeCursor('not-json', ['string'])).toThrow(/cursor/);
    expect(() => decodeCursor(encodeCursor([1]), ['string'])).toThrow(/cursor/);
    expect(decodeCursor(encodeCursor(['a', 2]), ['string', 'number'])).toEqual(['a', 2]);
  });
});
