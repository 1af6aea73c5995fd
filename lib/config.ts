import path from 'node:path';
import { z } from 'zod';

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  SCAIVAULT_HOST: z.string().default('127.0.0.1'),
  SCAIVAULT_PORT: int(8200),
  SCAIVAULT_DATA_DIR: z.string().default('.data'),
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/scaivault'),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_PORT: int(7233),
  TEMPORAL_UI_PORT: int(8233),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('scaivault'),
  SCAIVAULT_DEV_ROOT_TOKEN: z.string().min(16).optional(),
  SCAIVAULT_MASTER_KEY: z.string().optional(),
  SCAIVAULT_LOG_LEVEL: z.string().default('info'),
});

export type Config = ReturnType<typeof loadConfig>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = envSchema.parse(env);
  return {
    host: e.SCAIVAULT_HOST,
    port: e.SCAIVAULT_PORT,
    dataDir: path.resolve(e.SCAIVAULT_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    temporal: {
      address: e.TEMPORAL_ADDRESS ?? `127.0.0.1:${e.TEMPORAL_PORT}`,
      external: e.TEMPORAL_ADDRESS !== undefined,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
    },
    devRootToken: e.SCAIVAULT_DEV_ROOT_TOKEN,
    masterKey: e.SCAIVAULT_MASTER_KEY,
    logLevel: e.SCAIVAULT_LOG_LEVEL,
  };
}
