import type { Config } from '../lib/config';
import { loadMasterKeys } from '../lib/master-key';
import { checkMasterKey } from './bootstrap';
import { migrate } from './db';
import { openStores } from '.';

/** What every process of the product does first: the store migrated, opened, and checked against the key. */
export async function openMigratedStore(config: Config, poolSize?: number) {
  const masterKeys = loadMasterKeys(config.masterKey, config.dataDir);
  await migrate(config.databaseUrl);
  const stores = openStores(config.databaseUrl, masterKeys, poolSize);
  await checkMasterKey(stores, masterKeys);
  return { stores, masterKeys };
}
