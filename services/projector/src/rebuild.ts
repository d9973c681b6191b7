/**
 * `npm run db:rebuild [-- --only grants,audit_log]`: applies migrations, then empties the projection tables
 * and replays the stored events into them (one transaction), and prints the counts as JSON.
 */
import { ConfigError } from '@dbroker/config';
import { MIGRATIONS_DIR, createDatabase, rebuildProjections, runMigrations } from '@dbroker/store';
import { loadRebuildConfig } from './config';
import { parseRebuildArgs } from './rebuild-args';

async function main(): Promise<number> {
  let config;
  let args;
  try {
    config = loadRebuildConfig();
    args = parseRebuildArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, poolMax: 1 });
  try {
    const migrations = await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR });
    const started = Date.now();
    const result = await rebuildProjections(database.db, { only: args.only });
    process.stdout.write(`${JSON.stringify({ migrationsApplied: migrations.applied, ...result, ms: Date.now() - started })}\n`);
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rebuild failed: ${err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
