import { join, resolve } from 'node:path';
import { z } from 'zod';
import { databaseUrl, int, parseEnv } from '@dbroker/config';

/** The import/export commands' environment: the same database variables as `npm start` and the PEP worker. */
export const PepImportEnvSchema = z.object({
  /** Postgres; unset = the embedded PGlite of `npm start` (PGLITE_DATA_DIR, else DATA_DIR/pglite). */
  DATABASE_URL: databaseUrl.optional(),
  PGLITE_DATA_DIR: z.string().optional(),
  DATA_DIR: z.string().default('.data'),
  /** The PEP worker's payload limit: larger items are reported and their node skipped. */
  MAX_PAYLOAD_BYTES: int(262_144, 256, 16 * 1024 * 1024),
});

export type PepImportConfig = z.infer<typeof PepImportEnvSchema> & { pgliteDir: string | undefined };

export function loadPepImportConfig(env: Record<string, string | undefined> = process.env): PepImportConfig {
  const cfg = parseEnv(PepImportEnvSchema, env, 'pep-import');
  return { ...cfg, pgliteDir: cfg.DATABASE_URL ? undefined : resolve(cfg.PGLITE_DATA_DIR ?? join(cfg.DATA_DIR, 'pglite')) };
}
