import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ConfigError } from '@dbroker/config';
import { loadPepConfig } from './config';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

test('pep: a database must be chosen; the embedded one only when asked for', () => {
  assert.throws(() => loadPepConfig({}), (e: unknown) => e instanceof ConfigError && /DATABASE_URL: is not set/.test(e.message));
  assert.equal(loadPepConfig({ DATABASE_URL: 'postgres://u@h/d' }).DATABASE_URL, 'postgres://u@h/d');
  assert.equal(loadPepConfig({ EMBEDDED_DATABASE: 'true' }).EMBEDDED_DATABASE, true);
  assert.equal(loadPepConfig({ PGLITE_DATA_DIR: '/tmp/x' }).EMBEDDED_DATABASE, false);
});

// A replica started on its own with no database setting exits with the config error code, before it
// touches NATS or a database (the old behaviour: a silent, private, in-memory database per replica).
for (const service of ['pep', 'mam', 'projector']) {
  test(`${service} started without DATABASE_URL exits 2 and says why`, () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(DATABASE_URL|PGLITE_DATA_DIR|EMBEDDED_DATABASE|OTEL_|NODE_TEST)/.test(k)) env[k] = v;
    const res = spawnSync(process.execPath, ['--import', 'tsx', `services/${service}/src/main.ts`], { cwd: REPO, env: { ...env, NATS_URL: 'nats://127.0.0.1:1', HTTP_PORT: '0' }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 2, `exit status (stderr: ${res.stderr.slice(0, 500)})`);
    assert.match(res.stderr + res.stdout, /DATABASE_URL: is not set: set it to the shared Postgres, or ask for the embedded database explicitly with PGLITE_DATA_DIR or EMBEDDED_DATABASE=true/);
  });
}
