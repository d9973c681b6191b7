import { ConfigError } from '@dbroker/config';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import type { PepImportConfig } from './config';

/** A wrong command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit code 2 and the usage for a wrong command line or configuration; anything else is rethrown. */
export function usageExit(err: unknown, usage: string): 2 {
  if (err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  throw err;
}

/** The broker's database (DATABASE_URL or the embedded PGlite), migrated, closed when `fn` is done. */
export async function withMigratedDatabase<T>(config: PepImportConfig, poolMax: number, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await createDatabase({ url: config.DATABASE_URL, dataDir: config.pgliteDir, poolMax });
  try {
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

/** Runs a command's main and sets the exit code; an unexpected error is one line on stderr and exit code 1. */
export function runCli(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
