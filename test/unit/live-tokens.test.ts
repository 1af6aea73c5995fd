import { describe, expect, it } from 'vitest';
import { LiveTokens } from '../../api/live-tokens';
import type { TokenRecord } from '../../store/tokens';

const record = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  token_id: 'tok_a',
  identity_id: 'svc:a',
  scopes: ['secrets:read'],
  policies: [],
  expires_at: null,
  ...over,
});

function setup(records: Record<string, TokenRecord>, ttlMs = 1000) {
  let now = 1_000_000;
  const asked: string[] = [];
  const tokens = new LiveTokens(
    async (hash) => (asked.push(hash), records[hash]),
    ttlMs,
    () => now,
  );
  return { tokens, asked, advance: (ms: number) => void (now += ms), now: () => now };
}

describe('live tokens', () => {
  it('ask the store once per token and window, and again once the window has passed', async () => {
    const { tokens, asked, advance } = setup({ h1: record() });
    expect(await tokens.find('h1')).toMatchObject({ token_id: 'tok_a' });
    advance(999);
    expect(await tokens.find('h1')).toMatchObject({ token_id: 'tok_a' });
    expect(asked).toEqual(['h1']);
    advance(1);
    await tokens.find('h1');
    expect(asked).toEqual(['h1', 'h1']);
  });

  it('never remember a token the store did not find', async () => {
    const records: Record<string, TokenRecord> = {};
    const { tokens, asked } = setup(records);
    expect(await tokens.find('h1')).toBeUndefined();
    records.h1 = record();
    expect(await tokens.find('h1')).toMatchObject({ token_id: 'tok_a' });
    expect(asked).toEqual(['h1', 'h1']);
  });

  it('forget a token revoked here, and every token of an identity deleted here, at once', async () => {
    const records = {
      h1: record(),
      h2: record({ token_id: 'tok_b', identity_id: 'svc:b' }),
      h3: record({ token_id: 'tok_c', identity_id: 'svc:b' }),
    };
    const { tokens, asked } = setup(records);
    for (const h of ['h1', 'h2', 'h3']) await tokens.find(h);
    tokens.forgetToken('tok_a');
    tokens.forgetIdentity('svc:b');
    delete (records as Record<string, TokenRecord>).h1;
    expect(await tokens.find('h1')).toBeUndefined();
    for (const h of ['h2', 'h3']) await tokens.find(h);
    expect(asked).toEqual(['h1', 'h2', 'h3', 'h1', 'h2', 'h3']);
  });

  it('stop serving a remembered token the moment it expires', async () => {
    const records: Record<string, TokenRecord> = {};
    const { tokens, asked, advance, now } = setup(records, 60_000);
    records.h1 = record({ expires_at: new Date(now() + 500) });
    expect(await tokens.find('h1')).toBeDefined();
    delete records.h1; // the store no longer finds it live
    advance(499);
    expect(await tokens.find('h1')).toBeDefined();
    advance(1);
    expect(await tokens.find('h1')).toBeUndefined();
    expect(asked).toEqual(['h1', 'h1']);
  });

  it('ask the store every time with a window of 0', async () => {
    const { tokens, asked } = setup({ h1: record() }, 0);
    await tokens.find('h1');
    await tokens.find('h1');
    expect(asked).toEqual(['h1', 'h1']);
  });
});
