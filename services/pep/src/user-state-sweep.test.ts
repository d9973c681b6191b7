import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { createDatabase, MIGRATIONS_DIR, runMigrations } from '@dbroker/store';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { startNatsServer } from '../../../test/harness/nats-server';
import { createTempDatabase } from '../../../test/harness/postgres';
import { startPepWorker } from './app';
import { loadPepConfig } from './config';

test('two PEP workers sweep the shared user state on schedule: expired presences, old rosters and caps beyond the bound go', async () => {
  await using nats = await startNatsServer();
  const temp = await createTempDatabase('dbroker_pep_sweep');
  const seed = await createDatabase({ url: temp.url });
  const metrics = createMetrics({ service: 'pep-sweep-test' });
  const workers: Array<{ stop(): Promise<void> }> = [];
  try {
    await runMigrations(seed.db, { migrationsDir: MIGRATIONS_DIR });
    const now = Date.now();
    await seed.raw.query({
      text:
        "insert into presence_sessions (full_jid, bare_jid, available_at, updated_at, expires_at) select 'u' || i || '@localhost/r', 'u' || i || '@localhost', $1, $1, " +
        "case when i <= 500 then $1::timestamptz else $2::timestamptz end from generate_series(1, 600) as i",
      values: [new Date(now - 3_600_000), new Date(now + 3_600_000)],
    });
    await seed.raw.query({
      text: "insert into roster_cache (owner, items, fetched_at, expires_at) select 'o' || i || '@localhost', '[]', $1, $1 from generate_series(1, 50) as i",
      values: [new Date(now - 2 * 86_400_000)],
    });
    await seed.raw.query({
      text: "insert into caps_cache (hash, ver, features, identities, verified, fetched_at) select 'sha-1', 'v' || i, '[]', '[]', 'yes', $1 from generate_series(1, 300) as i",
      values: [new Date(now - 60_000)],
    });
    const config = loadPepConfig({
      NATS_URL: nats.url,
      DATABASE_URL: temp.url,
      LOG_LEVEL: 'silent',
      MIGRATE_ON_START: 'false',
      USER_STATE_SWEEP_INTERVAL_MS: '1000',
      USER_STATE_SWEEP_BATCH_ROWS: '50',
      USER_STATE_SWEEP_MAX_BATCHES: '4',
      CAPS_CACHE_MAX_ROWS: '200',
    });
    for (const id of ['a', 'b']) {
      workers.push(await startPepWorker({ ...config, WORKER_ID: `pep-${id}` }, { logger: createLogger({ service: 'pep', level: 'silent' }), metrics, tracer: trace.getTracer('test') }));
    }
    const count = async (table: string) => Number((await seed.raw.query<{ n: number }>({ text: `select count(*)::int as n from ${table}` }))[0]!.n);
    const until = Date.now() + 20_000;
    while (Date.now() < until && ((await count('presence_sessions')) > 100 || (await count('roster_cache')) > 0 || (await count('caps_cache')) > 200)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await count('presence_sessions'), 100, 'the unexpired sessions stay');
    assert.equal(await count('roster_cache'), 0);
    // replicas evicting at the same moment may each take up to one batch too many (a cache: harmless)
    const caps = await count('caps_cache');
    assert.ok(caps <= 200 && caps >= 150, `${caps} caps rows`);
    // the counts are reported when a sweep has done every table: wait for the sweep in progress
    let text = '';
    const total = (table: string) => [...text.matchAll(new RegExp(`dbroker_retention_deleted_rows_total\\{[^}]*table="${table}"[^}]*\\} (\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
    for (let i = 0; i < 100; i++) {
      text = await metrics.registry.metrics();
      if (total('presence_sessions') >= 500 && total('roster_cache') >= 50 && total('caps_cache_evicted') >= 300 - caps) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(total('presence_sessions'), 500, 'each expired row deleted once across both replicas');
    assert.equal(total('roster_cache'), 50);
    assert.equal(total('caps_cache_evicted'), 300 - caps);
  } finally {
    for (const w of workers) await w.stop();
    await seed.close();
    await temp.drop();
  }
});
