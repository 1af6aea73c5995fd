import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);
const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier Postgres would store for this password. Sending it instead of the password
 * keeps the password out of `log_statement` output and moves the hashing cost off the database.
 * The password must be plain ASCII (our generator's alphabet), so SASLprep is the identity.
 */
export async function scramVerifier(password: string, salt: Buffer = randomBytes(16)): Promise<string> {
  const salted = await pbkdf2Async(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return (
    `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$` +
    `${storedKey.toString('base64')}:${serverKey.toString('base64')}`
  );
}
