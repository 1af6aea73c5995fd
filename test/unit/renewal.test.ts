import { describe, expect, it } from 'vitest';
import { plannedRenewal, truncateToSecond, type LeaseProgress } from '../../lib/lease';

const at = (iso: string) => Date.parse(iso);
const progress = (expiresAt: string, maxExpiresAt: string): LeaseProgress => ({
  state: 'active',
  issuedAt: '2026-01-01T00:00:00.000Z',
  expiresAt,
  maxExpiresAt,
});

describe('the renewal rule', () => {
  it('extends from now by the increment, to the whole second', () => {
    const plan = plannedRenewal(
      at('2026-01-01T00:30:00.700Z'),
      3600,
      progress('2026-01-01T01:00:00.000Z', '2026-01-01T08:00:00.000Z'),
    );
    expect(new Date(plan.expiresAtMs).toISOString()).toBe('2026-01-01T01:30:00.000Z');
    expect(plan).toMatchObject({ capped: false, extends: true, grantedSeconds: 3600 });
  });

  it('caps at the max and says so', () => {
    const plan = plannedRenewal(
      at('2026-01-01T07:00:00.000Z'),
      7200,
      progress('2026-01-01T07:30:00.000Z', '2026-01-01T08:00:00.000Z'),
    );
    expect(new Date(plan.expiresAtMs).toISOString()).toBe('2026-01-01T08:00:00.000Z');
    expect(plan.capped).toBe(true);
    expect(plan.grantedSeconds).toBe(3600);
  });

  it('grants the increment asked for, wherever in its second the clock stands', () => {
    for (const ms of ['000', '001', '499', '500', '999']) {
      expect(
        plannedRenewal(
          at(`2026-01-01T00:30:00.${ms}Z`),
          600,
          progress('2026-01-01T01:00:00.000Z', '2026-01-01T08:00:00.000Z'),
        ).grantedSeconds,
      ).toBe(600);
    }
  });

  it('truncates to whole seconds', () => {
    expect(truncateToSecond(1999)).toBe(1000);
  });
});
