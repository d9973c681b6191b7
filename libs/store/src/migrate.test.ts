import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createDatabase, type Database } from './db';
import { MigrationError, parseMigration, readMigrations, runMigrations } from './migrate';
import { MIGRATIONS_DIR } from './paths';

const tablesOf = async (db: Database): Promise<string[]> =>
  ((await db.execute(sql`select tablename from pg_tables where schemaname = 'public' order by tablename`)) as { rows: Array<{ tablename: string }> }).rows.map((r) => r.tablename);

const appliedOf = async (db: Database): Promise<string[]> =>
  ((await db.execute(sql`select tag from dbroker_migrations order by tag`)) as { rows: Array<{ tag: string }> }).rows.map((r) => r.tag);

/** Writes a drizzle-kit shaped migrations folder. */
async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-mig-'));
  await mkdir(join(dir, 'meta'));
  const entries = Object.keys(files).map((tag, idx) => ({ idx, version: '7', when: idx, tag, breakpoints: true }));
  await writeFile(join(dir, 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'postgresql', entries }));
  for (const [tag, text] of Object.entries(files)) await writeFile(join(dir, `${tag}.sql`), text);
  return dir;
}

describe('parseMigration', () => {
  test('splits on breakpoints, drops empty statements, ignores line endings in the hash', () => {
    const a = parseMigration('x', 'CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE INDEX i ON a (id);--> statement-breakpoint\n\n');
    assert.deepEqual(a.statements, ['CREATE TABLE a (id int);', 'CREATE INDEX i ON a (id);']);
    const b = parseMigration('x', 'CREATE TABLE a (id int);\r\n--> statement-breakpoint\r\nCREATE INDEX i ON a (id);--> statement-breakpoint\r\n\r\n');
    assert.equal(a.hash, b.hash);
  });

  test('the repository migrations are readable and in journal order', async () => {
    const all = await readMigrations(MIGRATIONS_DIR);
    assert.ok(all.length >= 1);
    assert.equal(all[0]?.tag, '0000_audit');
  });

  test('a missing journal is a MigrationError', async () => {
    await assert.rejects(readMigrations(join(tmpdir(), 'no-such-dir-dbroker')), (e: unknown) => e instanceof MigrationError && e.code === 'bad-journal');
  });
});

describe('runMigrations on Postgres', () => {
  let temp: TempDatabase;
  const dirs: string[] = [];
  before(async () => {
    temp = await createTempDatabase();
  });
  after(async () => {
    await temp.drop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('applies all migrations to a fresh database; a re-run is a no-op', async () => {
    const handle = await createDatabase({ url: temp.url });
    try {
      const expected = (await readMigrations(MIGRATIONS_DIR)).map((m) => m.tag);
      const first = await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
      assert.deepEqual(first, { applied: expected, skipped: [] });
      const tables = await tablesOf(handle.db);
      for (const t of ['audit_log', 'dbroker_migrations', 'events', 'grants']) assert.ok(tables.includes(t), `${t} exists`);
      const second = await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
      assert.deepEqual(second, { applied: [], skipped: expected });
      assert.deepEqual(await appliedOf(handle.db), expected);
    } finally {
      await handle.close();
    }
  });

  test('5 replicas migrating one fresh database at once: all succeed, each migration applied exactly once', async () => {
    await using fresh = await createTempDatabase();
    const replicas = await Promise.all(Array.from({ length: 5 }, () => createDatabase({ url: fresh.url })));
    try {
      const expected = (await readMigrations(MIGRATIONS_DIR)).map((m) => m.tag);
      const results = await Promise.all(replicas.map((r) => runMigrations(r.db, { migrationsDir: MIGRATIONS_DIR })));
      const appliedAll = results.flatMap((r) => r.applied).sort();
      assert.deepEqual(appliedAll, [...expected].sort(), 'every migration applied by exactly one replica');
      for (const r of results) assert.deepEqual([...r.applied, ...r.skipped].sort(), [...expected].sort());
      assert.deepEqual(await appliedOf(replicas[0]!.db), expected);
      // one pool, several callers at once: each gets its own session for the lock
      const again = await Promise.all(Array.from({ length: 5 }, () => runMigrations(replicas[0]!.db, { migrationsDir: MIGRATIONS_DIR })));
      assert.ok(again.every((r) => r.applied.length === 0));
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  test('concurrent runs serialise on the advisory lock (no replica sees a half-applied migration)', async () => {
    await using fresh = await createTempDatabase();
    // a slow migration: if the lock did not hold, a second runner would apply it again and fail on the pk
    const dir = await migrationsDir({
      '0000_slow': 'CREATE TABLE slow (id int primary key);\n--> statement-breakpoint\nSELECT pg_sleep(0.3);\n--> statement-breakpoint\nINSERT INTO slow VALUES (1);',
    });
    dirs.push(dir);
    const replicas = await Promise.all(Array.from({ length: 3 }, () => createDatabase({ url: fresh.url })));
    try {
      const results = await Promise.all(replicas.map((r) => runMigrations(r.db, { migrationsDir: dir })));
      assert.equal(results.filter((r) => r.applied.length === 1).length, 1);
      assert.equal(results.filter((r) => r.skipped.length === 1).length, 2);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  test('a failing migration rolls back alone; earlier ones stay applied; the lock is released', async () => {
    await using fresh = await createTempDatabase();
    const dir = await migrationsDir({
      '0000_ok': 'CREATE TABLE one (id int);',
      '0001_bad': 'CREATE TABLE two (id int);\n--> statement-breakpoint\nSELECT no_such_function();',
    });
    dirs.push(dir);
    const handle = await createDatabase({ url: fresh.url });
    try {
      await assert.rejects(runMigrations(handle.db, { migrationsDir: dir }));
      assert.deepEqual(await appliedOf(handle.db), ['0000_ok']);
      const tables = await tablesOf(handle.db);
      assert.ok(tables.includes('one'));
      assert.ok(!tables.includes('two'), 'the failed migration left nothing behind');
      // lock released: a fixed migration set applies
      await writeFile(join(dir, '0001_bad.sql'), 'CREATE TABLE two (id int);');
      const fixed = await runMigrations(handle.db, { migrationsDir: dir });
      assert.deepEqual(fixed.applied, ['0001_bad']);
    } finally {
      await handle.close();
    }
  });

  test('a migration edited after it was applied is refused', async () => {
    await using fresh = await createTempDatabase();
    const dir = await migrationsDir({ '0000_a': 'CREATE TABLE a (id int);' });
    dirs.push(dir);
    const handle = await createDatabase({ url: fresh.url });
    try {
      await runMigrations(handle.db, { migrationsDir: dir });
      await writeFile(join(dir, '0000_a.sql'), 'CREATE TABLE a (id bigint);');
      await assert.rejects(runMigrations(handle.db, { migrationsDir: dir }), (e: unknown) => e instanceof MigrationError && e.code === 'changed-after-apply');
    } finally {
      await handle.close();
    }
  });
});

describe('db:migrate CLI', () => {
  const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
  const run = (env: Record<string, string>) =>
    promisify(execFile)('node', ['--import', 'tsx', 'libs/store/src/cli/migrate.ts'], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: '', ...env } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  test('migrates DATABASE_URL, then finds nothing to do', async () => {
    await using fresh = await createTempDatabase();
    const first = await run({ DATABASE_URL: fresh.url });
    assert.equal(first.code, 0, first.stderr);
    const done = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; applied?: string[] }).find((l) => l.msg === 'migrations done');
    assert.deepEqual(done?.applied, (await readMigrations(MIGRATIONS_DIR)).map((m) => m.tag));
    const second = await run({ DATABASE_URL: fresh.url });
    assert.match(second.stdout, /"applied":\[\]/);
  });

  test('without DATABASE_URL it names the variable and exits 2', async () => {
    const r = await run({});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /DATABASE_URL/);
  });
});

describe('runMigrations on PGlite', () => {
  test('in memory: applies, concurrent runs in one process apply once, re-run is a no-op', async () => {
    const handle = await createDatabase();
    try {
      assert.equal(handle.kind, 'pglite');
      const expected = (await readMigrations(MIGRATIONS_DIR)).map((m) => m.tag);
      const results = await Promise.all(Array.from({ length: 5 }, () => runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR })));
      assert.deepEqual(results.flatMap((r) => r.applied), expected);
      assert.deepEqual(await appliedOf(handle.db), expected);
      const tables = await tablesOf(handle.db);
      for (const t of ['audit_log', 'events', 'grants']) assert.ok(tables.includes(t));
    } finally {
      await handle.close();
    }
  });

  test('with a data directory the schema persists across reopen', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dbroker-pglite-'));
    try {
      const first = await createDatabase({ dataDir });
      await runMigrations(first.db, { migrationsDir: MIGRATIONS_DIR });
      await first.close();
      const second = await createDatabase({ dataDir });
      try {
        const again = await runMigrations(second.db, { migrationsDir: MIGRATIONS_DIR });
        assert.equal(again.applied.length, 0);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
