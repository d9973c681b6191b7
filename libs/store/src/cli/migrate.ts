/**
 * `npm run db:migrate`: applies pending migrations to DATABASE_URL and exits (a Kubernetes Job can run it;
 * services also migrate at start-up, under the same advisory lock).
 */
import { createDatabase } from '../db';
import { runMigrations } from '../migrate';
import { MIGRATIONS_DIR } from '../paths';
import { parseMigrateConfig } from './config';

const log = (level: string, obj: object, msg: string) => console.log(JSON.stringify({ level, time: new Date().toISOString(), ...obj, msg }));

async function main(): Promise<void> {
  const config = parseMigrateConfig(process.env);
  const { db, close } = await createDatabase({ url: config.DATABASE_URL, poolMax: 1 });
  try {
    const migrationsDir = config.MIGRATIONS_DIR ?? MIGRATIONS_DIR;
    const result = await runMigrations(db, { migrationsDir, logger: { info: (obj, msg) => log('info', obj, msg ?? '') } });
    log('info', { applied: result.applied, alreadyApplied: result.skipped.length }, 'migrations done');
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  log('error', { err: err instanceof Error ? { name: err.name, message: err.message, cause: String(err.cause ?? '') } : String(err) }, 'migration failed');
  process.exitCode = 1;
});
