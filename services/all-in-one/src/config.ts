import { resolve } from 'node:path';
import { z } from 'zod';
import { int, parseEnv } from '@dbroker/config';

/** Settings of the all-in-one process itself; each service still reads its own variables. */
export const AllInOneEnvSchema = z.object({
  /** Where embedded state lives (PGlite database, embedded NATS store) when DATABASE_URL / NATS_URL are unset. */
  DATA_DIR: z.string().default('.data'),
  NATS_SERVER_BIN: z.string().default('nats-server'),
  /** Port of the embedded nats-server; 0 picks a free one. */
  EMBEDDED_NATS_PORT: int(0, 0, 65535),
});

export type AllInOneConfig = z.infer<typeof AllInOneEnvSchema> & { dataDir: string };

export function loadAllInOneConfig(env: Record<string, string | undefined> = process.env): AllInOneConfig {
  const cfg = parseEnv(AllInOneEnvSchema, env, 'all-in-one');
  return { ...cfg, dataDir: resolve(cfg.DATA_DIR) };
}
