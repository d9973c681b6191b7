import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { createDatabase, MIGRATIONS_DIR, runMigrations } from '@dbroker/store';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { startNatsServer } from '../../../test/harness/nats-server';
import { createTempDatabase } from '../../../test/harness/postgres';
import { startPepWorker } from './app';
import { loadPepConfig } from './config';

const DAY = 86_400_000;

test('two PEP workers sweep the node history on schedule: old entries, entries beyond the cap and old tombstones go, counted once', async () => {
  await using nats = await startNatsServer();
  const temp = await createTempDatabase('dbroker_pep_history');
  const seed = await createDatabase({ url: temp.url });
  const metrics = createMetrics({ service: 'pep-history-test' });
  const workers: Array<{ stop(): Promise<void> }> = [];
  try {
    await runMigrations(seed.db, { migrationsDir: MIGRATIONS_DIR });
    const now = Date.now();
    const node = async (name: string, deletedAt: Date | null = null) =>
      Number((await seed.raw.query<{ id: string }>({ text: "insert into pubsub_nodes (service, node, config, deleted_at) values ('alice@localhost', $1, '{}', $2) returning id", values: [name, deletedAt] }))[0]!.id);
    const entries = (nodeId: number, n: number, from: Date) =>
      seed.raw.query({
        text: "insert into pubsub_node_events (node_id, kind, item_id, payload, at) select $1, 'publish', 'i' || g, '<x/>', $2::timestamptz + g * interval '1 second' from generate_series(1, $3) g",
        values: [nodeId, from, n],
      });
    const old = await node('old');
    await entries(old, 300, new Date(now - 400 * DAY));
    await entries(old, 20, new Date(now - DAY));
    // the current version of item i7 was published 400 days ago: its entry stays
    await seed.raw.query({
      text: "insert into pubsub_items (node_id, item_id, payload, published_seq, published_at) select node_id, item_id, payload, seq, at from pubsub_node_events where node_id = $1 and item_id = 'i7' order by seq limit 1",
      values: [old],
    });
    const busy = await node('busy');
    await entries(busy, 120, new Date(now - DAY));
    const gone = await node('gone', new Date(now - 40 * DAY));
    await entries(gone, 10, new Date(now - 50 * DAY));

    const config = loadPepConfig({
      NATS_URL: nats.url,
      DATABASE_URL: temp.url,
      LOG_LEVEL: 'silent',
      MIGRATE_ON_START: 'false',
      USER_STATE_SWEEP_INTERVAL_MS: '3600000',
      NODE_HISTORY_SWEEP_INTERVAL_MS: '1000',
      NODE_HISTORY_SWEEP_BATCH_ROWS: '40',
      NODE_HISTORY_SWEEP_MAX_BATCHES: '2',
      NODE_HISTORY_MAX_EVENTS: '50',
    });
    assert.equal(config.NODE_HISTORY_RETENTION_DAYS, 365);
    assert.equal(config.NODE_TOMBSTONE_RETENTION_DAYS, 30);
    for (const id of ['a', 'b']) {
      workers.push(await startPepWorker({ ...config, WORKER_ID: `pep-${id}` }, { logger: createLogger({ service: 'pep', level: 'silent' }), metrics, tracer: trace.getTracer('test') }));
    }
    const count = async (where: string) => Number((await seed.raw.query<{ n: number }>({ text: `select count(*)::int as n from pubsub_node_events where ${where}` }))[0]!.n);
    const expected = 299 + 70 + 10;
    let text = '';
    const total = (table: string) => [...text.matchAll(new RegExp(`dbroker_retention_deleted_rows_total\\{[^}]*table="${table}"[^}]*\\} (\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      text = await metrics.registry.metrics();
      if (total('pubsub_node_events') >= expected && total('pubsub_nodes') >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await count(`node_id = ${old}`), 21, 'the recent entries and the current item\'s entry');
    assert.equal(await count(`node_id = ${old} and at < now() - interval '300 days'`), 1);
    assert.equal(await count(`node_id = ${busy}`), 50);
    assert.equal(await count(`node_id = ${gone}`), 0);
    assert.equal(Number((await seed.raw.query<{ n: number }>({ text: 'select count(*)::int as n from pubsub_nodes' }))[0]!.n), 2);
    assert.equal(total('pubsub_node_events'), expected, 'each entry deleted once across both replicas');
    assert.equal(total('pubsub_nodes'), 1);
  } finally {
    for (const w of workers) await w.stop();
    await seed.close();
    await temp.drop();
  }
});
