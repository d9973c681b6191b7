import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@dbroker/config';
import { DEFAULT_EVENTS_PREFIX, DEFAULT_EVENTS_STREAM } from '@dbroker/bus';
import { loadProjectorConfig, loadRebuildConfig } from './config';
import { parseRebuildArgs } from './rebuild-args';

test('defaults: local NATS, PGlite when asked for, the shared stream names, durable "projector", batch 100', () => {
  assert.throws(() => loadProjectorConfig({}), (e: unknown) => e instanceof ConfigError && /DATABASE_URL: is not set/.test(e.message), 'no silent in-memory database');
  const c = loadProjectorConfig({ EMBEDDED_DATABASE: 'true' });
  assert.equal(c.NATS_URL, 'nats://127.0.0.1:4222');
  assert.equal(c.DATABASE_URL, undefined);
  assert.equal(c.EVENTS_STREAM, DEFAULT_EVENTS_STREAM);
  assert.equal(c.EVENTS_SUBJECT_PREFIX, DEFAULT_EVENTS_PREFIX);
  assert.equal(c.PROJECTOR_DURABLE, 'projector');
  assert.equal(c.PROJECTOR_BATCH, 100);
  assert.equal(c.MIGRATE_ON_START, true);
  assert.equal(c.LOG_LEVEL, 'info');
});

test('values are parsed and bounded; every bad variable is named in one error', () => {
  const c = loadProjectorConfig({ PROJECTOR_BATCH: '1000', DATABASE_URL: 'postgres://u@h:5432/d', MIGRATE_ON_START: 'false', EVENTS_STREAM: '' });
  assert.equal(c.PROJECTOR_BATCH, 1000);
  assert.equal(c.MIGRATE_ON_START, false);
  assert.equal(c.EVENTS_STREAM, DEFAULT_EVENTS_STREAM, 'empty means unset');
  assert.throws(
    () => loadProjectorConfig({ PROJECTOR_BATCH: '0', PROJECTOR_DURABLE: 'a.b', DATABASE_URL: 'mysql://x', NATS_URL: 'http://x' }),
    (e: unknown) =>
      e instanceof ConfigError && ['PROJECTOR_BATCH', 'PROJECTOR_DURABLE', 'DATABASE_URL', 'NATS_URL'].every((k) => e.message.includes(k)),
  );
  assert.throws(() => loadProjectorConfig({ EMBEDDED_DATABASE: 'true', PROJECTOR_BATCH: '1001' }), ConfigError);
});

test('db:rebuild needs a database to rebuild', () => {
  assert.throws(() => loadRebuildConfig({}), (e: unknown) => e instanceof ConfigError && e.message.includes('DATABASE_URL'));
  assert.equal(loadRebuildConfig({ DATABASE_URL: 'postgres://u@h/d' }).DATABASE_URL, 'postgres://u@h/d');
  assert.equal(loadRebuildConfig({ PGLITE_DATA_DIR: '/tmp/x' }).PGLITE_DATA_DIR, '/tmp/x');
});

test('db:rebuild arguments', () => {
  assert.deepEqual(parseRebuildArgs([]), { only: undefined });
  assert.deepEqual(parseRebuildArgs(['--only', 'grants']), { only: ['grants'] });
  assert.deepEqual(parseRebuildArgs(['--only=grants,audit_log']), { only: ['grants', 'audit_log'] });
  assert.throws(() => parseRebuildArgs(['--only', 'events']), /not events/);
  assert.throws(() => parseRebuildArgs(['--only']), /--only takes/);
  assert.throws(() => parseRebuildArgs(['--all']), /unknown argument/);
});
