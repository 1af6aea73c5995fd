import { z } from 'zod';
import { ApiError } from './errors';

/**
 * Cursor pagination for every list route: `?limit=` (1-1000, default 100) and `?cursor=` from the previous
 * page's `next_cursor`, which is null on the last page. A cursor is the last item's sort key, opaque to
 * callers (base64url JSON), so a page continues after it even when items come and go meanwhile.
 */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
  cursor: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor from next_cursor')
    .optional(),
});
export type PageQuery = z.infer<typeof pageQuerySchema>;

export type SortKey = Array<string | number>;

export const encodeCursor = (key: SortKey) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The sort key a cursor carries, checked against the shape the list sorts by. */
export function decodeCursor(cursor: string, shape: Array<'string' | 'number'>): SortKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((part, i) => typeof part !== shape[i])) {
    throw new ApiError('invalid_request', 'cursor is not a next_cursor of this list');
  }
  return key as SortKey;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * The page in `rows`, read with one row more than `limit`: that row, when there, says another page
 * follows, which starts after the last row shown.
 */
export function pageFromRows<T>(rows: T[], limit: number, keyOf: (row: T) => SortKey): Page<T> {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? encodeCursor(keyOf(data[data.length - 1]!)) : null };
}

/**
 * One page of a list by a single string key (names, ids), in code-point order: for the admin-sized
 * collections (engines, roles, policies, webhooks) that are read whole.
 */
export function pageOf<T>(items: T[], keyOf: (item: T) => string, { limit, cursor }: PageQuery): Page<T> {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const after = cursor === undefined ? undefined : (decodeCursor(cursor, ['string'])[0] as string);
  const rest = after === undefined ? sorted : sorted.filter((item) => keyOf(item) > after);
  return pageFromRows(rest, limit, (item) => [keyOf(item)]);
}
