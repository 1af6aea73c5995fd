import { loadConfig } from '../lib/config';
import { migrate } from '../store/db';

/** `npm run migrate`: creates the store database if missing and applies pending migrations. */
migrate(loadConfig().databaseUrl).then(
  () => console.log('migrations applied'),
  (error) => {
    console.error('migration failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
