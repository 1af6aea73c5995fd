import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseMasterKeys } from './keyring';

/**
 * The master key from SCAIVAULT_MASTER_KEY, or in dev a key generated once into the data dir (mode 0600).
 * Both processes of one instance read the same file, so the API and the worker share a key.
 */
export function loadMasterKeys(configured: string | undefined, dataDir: string): Buffer[] {
  if (configured) return parseMasterKeys(configured);
  const file = path.join(dataDir, 'master-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return parseMasterKeys(readFileSync(file, 'utf8'));
}
