import { describe, expect, it } from 'vitest';
import { grant, mintToken } from '../support/auth';
import { withGuideStack, type GuideContext } from '../support/guide';

/** Every list route pages with `limit` and `next_cursor`, and says when a list goes on. */
let c: GuideContext;
withGuideStack({ withGrantOption: true }, (context) => (c = context));

/** What the tests read of a listed item: a lease's id and issue time, a policy's name. */
interface Listed {
  lease_id: string;
  issued_at: string;
  name: string;
}

/** Follows next_cursor from the first page to the last; each page's items, in order. */
async function walk<T = Listed>(
  url: string,
  limit: number,
  token?: string,
  items: (body: { data: unknown }) => T[] = (body) => body.data as T[],
) {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const { status, body } = await c.stack.call(
      'GET',
      `${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      undefined,
      token,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    pages.push(items(body));
    cursor = body.next_cursor;
    expect(pages.length).toBeLessThan(50);
  } while (cursor);
  return pages;
}

describe('lists', () => {
  it('of leases go newest first, each lease once, and the last page says it is the last', async () => {
    const minted: string[] = [];
    for (let i = 0; i < 5; i++)
      minted.push((await c.stack.call('POST', `/v1/dynamic/engines/${c.engine}/creds/readonly`, {})).body.lease_id);
    const pages = await walk(`/v1/dynamic/leases?engine=${c.engine}`, 2);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const ids = pages.flat().map((l) => l.lease_id);
    expect([...ids].sort()).toEqual([...minted].sort());
    const issued = pages.flat().map((l) => Date.parse(l.issued_at));
    expect(issued).toEqual([...issued].sort((a, b) => b - a));
  });

  it('of leases are full pages of what the caller may see, skipping the rest', async () => {
    const identity = 'svc:pager';
    await grant(
      c.stack,
      'pager',
      [{ path_pattern: `dynamic/${c.engine}/creds/writer`, permissions: ['list'] }],
      identity,
    );
    const token = (await mintToken(c.stack, identity, ['dynamic:manage'])).token;
    const writer = await c.stack.call('POST', `/v1/dynamic/engines/${c.engine}/roles`, {
      ...c.target.guideRole,
      name: 'writer',
    });
    expect(writer.status).toBe(200);
    const visible: string[] = [];
    for (let i = 0; i < 3; i++)
      visible.push((await c.stack.call('POST', `/v1/dynamic/engines/${c.engine}/creds/writer`, {})).body.lease_id);
    const pages = await walk('/v1/dynamic/leases', 2, token);
    expect(pages.map((p) => p.length)).toEqual([2, 1]);
    expect(
      pages
        .flat()
        .map((l) => l.lease_id)
        .sort(),
    ).toEqual(visible.sort());
  });

  it('of engines, roles, policies, secrets and rotation settings page the same way', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await c.stack.call('PUT', `/v1/secrets/app/paged/s${i}`, { data: { v: i } })).status).toBe(200);
      expect(
        (
          await c.stack.call('POST', '/v1/policies', {
            name: `paged-${i}`,
            rules: [{ path_pattern: 'app/*', permissions: ['read'] }],
          })
        ).status,
      ).toBe(201);
    }
    const secretPages = await walk(
      '/v1/secrets?prefix=app/paged/',
      2,
      undefined,
      (b) => (b.data as { paths: string[] }).paths,
    );
    expect(secretPages).toEqual([['app/paged/s0', 'app/paged/s1'], ['app/paged/s2']]);
    const policyNames = (await walk('/v1/policies', 1)).flat().map((p) => p.name);
    expect(policyNames).toEqual(expect.arrayContaining(['paged-0', 'paged-1', 'paged-2']));
    expect(new Set(policyNames).size).toBe(policyNames.length);
    for (const url of [
      '/v1/dynamic/engines',
      `/v1/dynamic/engines/${c.engine}/roles`,
      '/v1/secret-policies',
      '/v1/rotation/policies',
      '/v1/webhooks',
    ]) {
      const { status, body } = await c.stack.call('GET', `${url}?limit=1`);
      expect(status, url).toBe(200);
      expect(body, url).toHaveProperty('next_cursor');
    }
  });

  it('refuse a cursor they did not hand out, and a limit out of range, with 400', async () => {
    for (const query of ['cursor=bm90LWEtY3Vyc29y', 'cursor=%22%3B', 'limit=0', 'limit=1001', 'limit=ten']) {
      const { status, body } = await c.stack.call('GET', `/v1/dynamic/leases?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('invalid_request');
    }
  });
});
