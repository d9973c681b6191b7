import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@dbroker/config';
import { loadMamConfig } from './config';

test('defaults, bounds and the page-size rule', () => {
  const c = loadMamConfig({});
  assert.equal(c.WORKER_QUEUE, 'mam');
  assert.equal(c.HTTP_PORT, 9467);
  assert.equal(c.MAM_DEFAULT_PAGE, 50);
  assert.equal(c.MAM_MAX_PAGE, 250);
  assert.equal(c.MAM_COUNT_MAX, 10_000);
  assert.equal(c.MAM_SEND_WINDOW, 16);
  assert.match(c.WORKER_ID, /^mam@/);
  assert.equal(loadMamConfig({ MAM_DEFAULT_PAGE: '10', MAM_MAX_PAGE: '10', MAM_COUNT_MAX: '0' }).MAM_COUNT_MAX, 0);
  assert.throws(() => loadMamConfig({ MAM_DEFAULT_PAGE: '300' }), (e: Error) => e instanceof ConfigError && /MAM_DEFAULT_PAGE: must not exceed MAM_MAX_PAGE/.test(e.message));
  assert.throws(() => loadMamConfig({ MAM_MAX_PAGE: '0' }), ConfigError);
  assert.throws(() => loadMamConfig({ MAM_MAX_PAGE: '5000' }), ConfigError);
  assert.throws(() => loadMamConfig({ WORKER_QUEUE: 'a.b' }), ConfigError);
});
