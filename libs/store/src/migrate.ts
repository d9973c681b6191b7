import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { withSession, type Database } from './db';

/** Advisory lock key held while migrating ("dbroker" as a big-endian integer). */
export const MIGRATION_LOCK_KEY = '28255741306168690';
export const MIGRATIONS_TABLE = 'dbroker_migrations';
const BREAKPOINT = '--> statement-breakpoint';

export interface Migration {
  tag: string;
  /** sha256 of the SQL file (line endings normalised). */
  hash: string;
  statements: string[];
}

export interface MigrationLogger {
  info(obj: object, msg?: string): void;
}

export interface RunMigrationsOptions {
  migrationsDir: string;
  logger?: MigrationLogger;
}

export interface MigrationResult {
  /** Tags applied by this run, in order. */
  applied: string[];
  /** Tags found already applied. */
  skipped: string[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
  constructor(
    readonly code: 'bad-journal' | 'changed-after-apply',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Splits one drizzle-kit SQL file into statements. Pure. */
export function parseMigration(tag: string, text: string): Migration {
  const normalised = text.replace(/\r\n/g, '\n');
  return {
    tag,
    hash: createHash('sha256').update(normalised).digest('hex'),
    statements: normalised
      .split(BREAKPOINT)
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  };
}

/** Reads `meta/_journal.json` and the SQL files it lists, in journal order. */
export async function readMigrations(migrationsDir: string): Promise<Migration[]> {
  let journal: { entries?: Array<{ idx: number; tag: string }> };
  try {
    journal = JSON.parse(await readFile(join(migrationsDir, 'meta', '_journal.json'), 'utf8'));
  } catch (err) {
    throw new MigrationError('bad-journal', `cannot read ${join(migrationsDir, 'meta', '_journal.json')}`, { cause: err });
  }
  if (!Array.isArray(journal.entries)) throw new MigrationError('bad-journal', 'journal has no entries');
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  return await Promise.all(entries.map(async (e) => parseMigration(e.tag, await readFile(join(migrationsDir, `${e.tag}.sql`), 'utf8'))));
}

/**
 * Applies pending migrations. Several replicas may start at once: the whole run holds a session-level
 * advisory lock on one connection, so they apply each migration exactly once, one after the other, and the
 * later ones find nothing to do. Each migration runs in its own transaction together with its bookkeeping row.
 */
export async function runMigrations(db: Database, { migrationsDir, logger }: RunMigrationsOptions): Promise<MigrationResult> {
  const migrations = await readMigrations(migrationsDir);
  return await withSession(db, async (session) => {
    await session.execute(sql.raw(`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`));
    const unlock = async () => {
      await session.execute(sql.raw(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`));
    };
    try {
      await session.execute(
        sql.raw(`create table if not exists ${MIGRATIONS_TABLE} (tag text primary key, hash text not null, applied_at timestamptz not null default now())`),
      );
      const done = (await session.execute(sql.raw(`select tag, hash from ${MIGRATIONS_TABLE}`))) as { rows: Array<{ tag: string; hash: string }> };
      const appliedHashes = new Map(done.rows.map((r) => [r.tag, r.hash]));
      const result: MigrationResult = { applied: [], skipped: [] };
      for (const m of migrations) {
        const known = appliedHashes.get(m.tag);
        if (known !== undefined) {
          if (known !== m.hash) throw new MigrationError('changed-after-apply', `migration ${m.tag} was changed after it was applied`);
          result.skipped.push(m.tag);
          continue;
        }
        const started = Date.now();
        await session.transaction(async (tx) => {
          for (const statement of m.statements) await tx.execute(sql.raw(statement));
          await tx.execute(sql`insert into ${sql.identifier(MIGRATIONS_TABLE)} (tag, hash) values (${m.tag}, ${m.hash})`);
        });
        result.applied.push(m.tag);
        logger?.info({ migration: m.tag, statements: m.statements.length, ms: Date.now() - started }, 'migration applied');
      }
      await unlock();
      return result;
    } catch (err) {
      // the original error matters more than a failed unlock; the failed session is destroyed anyway
      await unlock().catch(() => undefined);
      throw err;
    }
  });
}
