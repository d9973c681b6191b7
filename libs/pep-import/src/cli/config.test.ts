import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '@dbroker/config';
import { loadPepImportConfig } from './config';

test('database of the commands: DATABASE_URL, else PGLITE_DATA_DIR, else DATA_DIR/pglite (as npm start)', () => {
  assert.equal(loadPepImportConfig({}).pgliteDir, resolve('.data/pglite'));
  assert.equal(loadPepImportConfig({ DATA_DIR: '/srv/broker' }).pgliteDir, '/srv/broker/pglite');
  assert.equal(loadPepImportConfig({ DATA_DIR: '/srv/broker', PGLITE_DATA_DIR: '/srv/pg' }).pgliteDir, '/srv/pg');
  const pg = loadPepImportConfig({ DATABASE_URL: 'postgres://u@h:5432/db', DATA_DIR: '/srv/broker' });
  assert.equal(pg.pgliteDir, undefined);
  assert.equal(pg.MAX_PAYLOAD_BYTES, 262_144);
  assert.throws(() => loadPepImportConfig({ DATABASE_URL: 'mysql://x' }), ConfigError);
  assert.throws(() => loadPepImportConfig({ MAX_PAYLOAD_BYTES: '10' }), ConfigError);
});

test('npm run import without DATABASE_URL: the embedded PGlite in DATA_DIR; bad usage exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-import-pglite-'));
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', new URL('./import.ts', import.meta.url).pathname, ...args], {
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dir },
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  try {
    const fixture = new URL('../fixtures/prosody-migrator-alice.xml', import.meta.url).pathname;
    const first = await run(['--from', 'xep0227', '--file', fixture]);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /imported 4 item\(s\) of 1 account\(s\)/);
    const again = await run(['--from', 'xep0227', '--file', fixture]);
    assert.match(again.out, /imported 0 item\(s\) of 1 account\(s\).*4 item\(s\) already there/);
    for (const bad of [['--from', 'ejabberd-sql'], ['--from', 'prosody'], ['--from', 'xep0227'], ['--nope'], ['--from', 'xep0227', '--file', fixture, '--concurrency', '0']]) {
      const r = await run(bad);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.out}`);
      assert.match(r.out, /usage: npm run import/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
