// `npm run bench:history`: the node history retention on a seeded Postgres log,
// to show that each delete statement stays short at any table size (the sweep holds no long lock).
//
// Seeding (bulk INSERT ... SELECT): NODES nodes of EVENTS entries in all, interleaved; the first half of
// them 400 days old; one extra hot node of HOT recent entries (over the 10,000 cap); 20 current items per
// node backed by old entries; 50 tombstones 40 days old with 100 entries each. Then VACUUM ANALYZE.
// Reported: time per delete statement (batch of BATCH rows) of each part, p50/p95/max, and the sweep totals.
//
// Env: BENCH_HISTORY_EVENTS (default 300000), BENCH_HISTORY_NODES (300), BENCH_HISTORY_HOT (30000),
// BENCH_HISTORY_BATCH (1000).
import { createDatabase, MIGRATIONS_DIR, runMigrations, type RawDb } from '@dbroker/store';
import { createNodeHistorySweeper } from '@dbroker/pubsub';
import { createTempDatabase } from '../harness/postgres';

const EVENTS = Number(process.env.BENCH_HISTORY_EVENTS ?? 300_000);
const NODES = Number(process.env.BENCH_HISTORY_NODES ?? 300);
const HOT = Number(process.env.BENCH_HISTORY_HOT ?? 30_000);
const BATCH = Number(process.env.BENCH_HISTORY_BATCH ?? 1_000);
const DAY = 86_400_000;

/** A RawDb that times every statement by its name. */
function timed(db: RawDb, times: Map<string, number[]>): RawDb {
  const wrap = <T extends object>(x: T): T =>
    new Proxy(x, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop !== 'query' || typeof v !== 'function') return v;
        return async (q: { name?: string }) => {
          const t = performance.now();
          try {
            return await (v as (q: unknown) => Promise<unknown>).call(target, q);
          } finally {
            const key = q.name ?? 'unnamed';
            times.set(key, [...(times.get(key) ?? []), performance.now() - t]);
          }
        };
      },
    });
  return wrap(db);
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

const temp = await createTempDatabase('dbroker_history_bench');
const h = await createDatabase({ url: temp.url });
try {
  await runMigrations(h.db, { migrationsDir: MIGRATIONS_DIR });
  const now = Date.now();
  const t0 = performance.now();
  await h.raw.query({ text: "insert into pubsub_nodes (service, node, config) select 'u' || g || '@localhost', 'n', '{}' from generate_series(1, $1) g", values: [NODES + 1] });
  await h.raw.query({
    text:
      "insert into pubsub_node_events (node_id, kind, item_id, payload, publisher, at) select (g % $2) + 1, 'publish', 'i' || (g / $2 % 200), repeat('x', 200), 'u@localhost', " +
      "case when g < $1 / 2 then $3::timestamptz - interval '400 days' else $3::timestamptz - interval '10 days' end + g * interval '1 ms' from generate_series(0, $1 - 1) g",
    values: [EVENTS, NODES, new Date(now)],
  });
  await h.raw.query({
    text: "insert into pubsub_node_events (node_id, kind, item_id, payload, at) select $1, 'publish', 'h' || (g % 50), repeat('x', 200), $3::timestamptz - interval '1 day' + g * interval '1 ms' from generate_series(1, $2) g",
    values: [NODES + 1, HOT, new Date(now)],
  });
  await h.raw.query({
    text:
      'insert into pubsub_items (node_id, item_id, payload, published_seq, published_at) ' +
      'select distinct on (node_id, item_id) node_id, item_id, payload, seq, at from pubsub_node_events where node_id <= $1 and (seq % 211) = 0 order by node_id, item_id, seq limit $1 * 20',
    values: [NODES],
  });
  await h.raw.query({ text: "insert into pubsub_nodes (service, node, config, deleted_at) select 'gone' || g || '@localhost', 'n', '{}', $1 from generate_series(1, 50) g", values: [new Date(now - 40 * DAY)] });
  await h.raw.query({
    text: "insert into pubsub_node_events (node_id, kind, item_id, at) select n.id, 'publish', 'i' || g, $1 from pubsub_nodes n, generate_series(1, 100) g where n.deleted_at is not null",
    values: [new Date(now - 50 * DAY)],
  });
  await h.raw.query({ text: 'vacuum analyze pubsub_node_events' });
  await h.raw.query({ text: 'vacuum analyze pubsub_nodes' });
  await h.raw.query({ text: 'vacuum analyze pubsub_items' });
  const n = async () => Number((await h.raw.query<{ n: number }>({ text: 'select count(*)::int as n from pubsub_node_events' }))[0]!.n);
  const before = await n();
  console.log(`seeded ${before} entries in ${Math.round(performance.now() - t0)} ms`);

  const times = new Map<string, number[]>();
  const sweeper = createNodeHistorySweeper(timed(h.raw, times), { retentionDays: 365, maxEvents: 10_000, tombstoneDays: 30, bounds: { batchRows: BATCH, maxBatches: 20 } });
  const t1 = performance.now();
  const total = { aged: 0, capped: 0, tombstoneEvents: 0, tombstones: 0, sweeps: 0 };
  for (;;) {
    const r = await sweeper.sweep();
    total.aged += r.aged;
    total.capped += r.capped;
    total.tombstoneEvents += r.tombstoneEvents;
    total.tombstones += r.tombstones;
    total.sweeps++;
    if (!r.more) break;
  }
  console.log(`sweeps until done: ${total.sweeps} in ${Math.round(performance.now() - t1)} ms; deleted ${JSON.stringify(total)}; left ${await n()} of ${before}`);
  for (const [name, xs] of times) {
    console.log(`${name.replace('dbroker_pubsub_retention_', '')}: ${xs.length} statements, p50 ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`);
  }
} finally {
  await h.close();
  await temp.drop();
}
