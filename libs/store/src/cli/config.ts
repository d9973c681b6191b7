import { databaseUrl, parseEnv } from '@dbroker/config';
import { z } from 'zod';

const MigrateEnvSchema = z.object({
  DATABASE_URL: databaseUrl,
  /** Overrides the migrations directory (default: `<repo>/migrations`). */
  MIGRATIONS_DIR: z.string().min(1).optional(),
});

export type MigrateConfig = z.infer<typeof MigrateEnvSchema>;

/** Parses the migration CLI's environment; throws a ConfigError listing every problem. */
export function parseMigrateConfig(env: Record<string, string | undefined>): MigrateConfig {
  return parseEnv(MigrateEnvSchema, env, 'db:migrate');
}
