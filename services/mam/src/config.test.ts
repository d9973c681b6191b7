import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@dbroker/config';
import { loadMamConfig } from './config';

const E = { EMBEDDED_DATABASE: 'true' };

test('defaults, bounds and the page-size rule', () => {
  const c = loadMamConfig(E);
  assert.equal(c.WORKER_QUEUE, 'mam');
  assert.equal(c.HTTP_PORT, 9467);
  assert.equal(c.MAM_DEFAULT_PAGE, 50);
  assert.equal(c.MAM_MAX_PAGE, 250);
  assert.equal(c.MAM_COUNT_MAX, 10_000);
  assert.equal(c.MAM_SEND_WINDOW, 16);
  assert.match(c.WORKER_ID, /^mam@/);
  assert.equal(loadMamConfig({ ...E, MAM_DEFAULT_PAGE: '10', MAM_MAX_PAGE: '10', MAM_COUNT_MAX: '0' }).MAM_COUNT_MAX, 0);
  assert.throws(() => loadMamConfig({ ...E, MAM_DEFAULT_PAGE: '300' }), (e: Error) => e instanceof ConfigError && /MAM_DEFAULT_PAGE: must not exceed MAM_MAX_PAGE/.test(e.message));
  assert.throws(() => loadMamConfig({ ...E, MAM_MAX_PAGE: '0' }), ConfigError);
  assert.throws(() => loadMamConfig({ ...E, MAM_MAX_PAGE: '5000' }), ConfigError);
  assert.throws(() => loadMamConfig({ ...E, WORKER_QUEUE: 'a.b' }), ConfigError);
});

test('without DATABASE_URL the worker refuses to start unless the embedded database is asked for', () => {
  assert.throws(() => loadMamConfig({}), (e: Error) => e instanceof ConfigError && /DATABASE_URL: is not set.*EMBEDDED_DATABASE=true/.test(e.message));
  assert.equal(loadMamConfig({ DATABASE_URL: 'postgres://u@h/d' }).EMBEDDED_DATABASE, false);
  assert.equal(loadMamConfig({ PGLITE_DATA_DIR: '/tmp/x' }).PGLITE_DATA_DIR, '/tmp/x');
  assert.throws(() => loadMamConfig({ EMBEDDED_DATABASE: 'false' }), ConfigError);
  assert.throws(() => loadMamConfig({ EMBEDDED_DATABASE: 'yes' }), ConfigError);
});
