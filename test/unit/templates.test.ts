import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatExpiration,
  generateUsername,
  render,
  unknownPlaceholders,
  STATEMENT_PLACEHOLDERS,
} from '../../lib/templates';
import { generatePassword } from '../../lib/random';

describe('statement templates', () => {
  it('fills the known placeholders and leaves others visible', () => {
    expect(
      render(`CREATE ROLE "{{name}}" PASSWORD '{{ password }}' VALID UNTIL '{{expiration}}' {{other}}`, {
        name: 'v_a',
        password: 'p',
        expiration: 'e',
      }),
    ).toBe(`CREATE ROLE "v_a" PASSWORD 'p' VALID UNTIL 'e' {{other}}`);
  });

  it('names unknown placeholders', () => {
    expect(unknownPlaceholders('{{name}} {{pasword}} {{ expiration }} {{x y}}', STATEMENT_PLACEHOLDERS)).toEqual([
      'pasword',
      'x y',
    ]);
  });

  it('formats expirations the way VALID UNTIL reads them', () => {
    expect(formatExpiration(new Date('2026-05-17T13:26:51.999Z'))).toBe('2026-05-17 13:26:51+00');
  });
});

describe('generated values cannot break out of SQL', () => {
  it('usernames are [a-z0-9_], at most 63 bytes, and keep their randomness whatever the template and role', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 100 }),
        (role, engine, prefix) => {
          const template = `${prefix.replace(/\{\{random\}\}/g, '')}{{role}}_{{engine}}_{{random}}`;
          const a = generateUsername(template, role, engine);
          const b = generateUsername(template, role, engine);
          return /^[a-z0-9_]{1,63}$/.test(a) && a !== b;
        },
      ),
    );
    expect(generateUsername('v_{{role}}_{{random}}', 'readonly', 'reporting-db')).toMatch(/^v_readonly_[a-z0-9]{10}$/);
  });

  it('passwords hold no quote, backslash, dollar or other symbol, and differ every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const password = generatePassword();
      expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
      seen.add(password);
    }
    expect(seen.size).toBe(200);
  });
});
