/**
 * `npm run db:migrate`: applies pending migrations to DATABASE_URL and exits (a Kubernetes Job can run it;
 * services also migrate at start-up, under the same advisory lock). Exit codes: 0 done, 1 failed,
 * 2 bad configuration.
 */
import { ConfigError } from '@dbroker/config';
import { createDatabase } from '../db';
import { runMigrations } from '../migrate';
import { MIGRATIONS_DIR } from '../paths';
import { parseMigrateConfig } from './config';

const log = (level: string, obj: object, msg: string) => process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), ...obj, msg })}\n`);

async function main(): Promise<number> {
  let config;
  try {
    config = parseMigrateConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const { db, close } = await createDatabase({ url: config.DATABASE_URL, poolMax: 1 });
  try {
    const result = await runMigrations(db, {
      migrationsDir: config.MIGRATIONS_DIR ?? MIGRATIONS_DIR,
      logger: { info: (obj, msg) => log('info', obj, msg ?? '') },
    });
    log('info', { applied: result.applied, alreadyApplied: result.skipped.length }, 'migrations done');
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
    log('error', { err: err instanceof Error ? { name: err.name, message: err.message, cause } : String(err) }, 'migration failed');
    process.exitCode = 1;
  },
);
