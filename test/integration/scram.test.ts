import { afterAll, describe, expect, it } from 'vitest';
import { generatePassword } from '../../lib/random';
import { scramVerifier } from '../../lib/scram';
import { adminQuery, uniqueName } from '../support/postgres';

const role = uniqueName('v_scram_check');
afterAll(() => adminQuery(`DROP ROLE IF EXISTS ${role}`));

describe('SCRAM-SHA-256 verifiers', () => {
  it('are accepted by Postgres as the password they were made from', async () => {
    const password = generatePassword();
    const verifier = await scramVerifier(password);
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${verifier}'`);
    const stored = await adminQuery<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [
      role,
    ]);
    expect(stored[0]?.rolpassword).toBe(verifier);

    // Loopback is trusted on this machine, so check the password against the stored verifier as the
    // server would: derive it again with the stored salt.
    const salt = Buffer.from(verifier.split('$')[1]!.split(':')[1]!, 'base64');
    expect(await scramVerifier(password, salt)).toBe(verifier);
    expect(await scramVerifier(`${password}x`, salt)).not.toBe(verifier);
  });
});
