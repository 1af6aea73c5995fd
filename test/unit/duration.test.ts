import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, MAX_DURATION_SECONDS, parseDuration } from '../../lib/duration';

describe('durations', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['7d', 604800],
    ['1h30m', 5400],
    ['2d3h4m5s', 183845],
    [3600, 3600],
    ['3600', 3600],
    [' 1h ', 3600],
    ['0', 0],
  ])('reads %j as %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each([
    '',
    'h',
    '1.5h',
    '-1h',
    '1H',
    '1 h',
    '1w',
    '1h-30m',
    'one hour',
    -1,
    1.5,
    Number.NaN,
    Infinity,
    '99999999999d',
    MAX_DURATION_SECONDS + 1,
  ])('refuses %j', (input) => {
    expect(parseDuration(input as string | number)).toBeUndefined();
  });

  it('formats and reads back any duration', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_DURATION_SECONDS }),
        (seconds) => parseDuration(formatDuration(seconds)) === seconds,
      ),
    );
  });
});
