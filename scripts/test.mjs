#!/usr/bin/env node
// The project's test command: typecheck every project (Nx), then unit tests, then end-to-end tests against
// real Postgres, NATS and Prosody. Prints `N passed, N failed` last; a run that finds no test fails.
import { spawnSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = new Set(process.argv.slice(2));
const only = args.has('--unit') ? 'unit' : args.has('--e2e') ? 'e2e' : 'all';

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

// `--dir D` (repeatable) limits the run to the tests under D (Nx runs `test` per project this way).
const dirs = process.argv.flatMap((a, i, arr) => (arr[i - 1] === '--dir' ? [a] : []));
const roots = dirs.length ? dirs.map((d) => join(process.cwd(), d)) : ['libs', 'services', 'test'].map((d) => join(root, d));
const all = roots.flatMap((d) => findTests(d)).sort();
const isE2e = (f) => f.startsWith('test/e2e/') || f.startsWith('test/harness/');
const unit = all.filter((f) => !isE2e(f));
const e2e = all.filter(isE2e);

let passed = 0;
let failed = 0;
let ran = 0;

if (only === 'all' && !args.has('--no-typecheck') && dirs.length === 0) {
  console.log('== typecheck (nx run-many -t typecheck)');
  const r = spawnSync('npx', ['nx', 'run-many', '-t', 'typecheck', '--outputStyle=static', '--skipNxCache'], { cwd: root, stdio: 'inherit' });
  if (r.status === 0) passed++;
  else failed++;
  ran++;
}

async function runNodeTests(label, files, concurrency) {
  if (files.length === 0) return;
  console.log(`== ${label}: ${files.length} files`);
  await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', '--test-reporter-destination=.test-results.tap', ...files],
      { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } },
    );
    child.on('exit', resolve);
  });
  const { readFileSync } = await import('node:fs');
  const tap = readFileSync(join(root, '.test-results.tap'), 'utf8');
  const num = (k) => Number(tap.match(new RegExp(`^# ${k} (\\d+)`, 'm'))?.[1] ?? 0);
  passed += num('pass');
  failed += num('fail') + num('cancelled');
  ran += num('tests');
}

if (only !== 'e2e') await runNodeTests('unit and integration tests', unit, 2);
if (only !== 'unit') await runNodeTests('end-to-end tests', e2e, 1);

if (ran === 0) {
  console.log('no test was executed');
  failed++;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
