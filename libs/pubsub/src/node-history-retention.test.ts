import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle, type RawDb } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createNodeHistorySweeper, deleteNodeEventsOverCap, deleteOldNodeEvents, deleteOldTombstones } from './node-history-retention';
import { createPgNodeLog } from './pg-node-log';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00.000Z');
const ago = (days: number, plusMs = 0) => new Date(NOW - days * DAY + plusMs);
const now = () => new Date(NOW);

const count = async (db: RawDb, where = 'true') =>
  Number((await db.query<{ n: number }>({ text: `select count(*)::int as n from pubsub_node_events where ${where}` }))[0]!.n);

async function createNode(db: RawDb, node: string, deletedAt: Date | null = null): Promise<number> {
  const [row] = await db.query<{ id: number | string }>({
    text: `insert into pubsub_nodes (service, node, config, deleted_at) values ('alice@example.org', $1, '{}', $2) returning id`,
    values: [node, deletedAt],
  });
  return Number(row!.id);
}

/** `n` publish entries of `nodeId`, one a minute from `from`, items `${prefix}0..`; their seqs. */
async function appendEntries(db: RawDb, nodeId: number, n: number, from: Date, prefix = 'i'): Promise<number[]> {
  const rows = await db.query<{ seq: number | string }>({
    text:
      `insert into pubsub_node_events (node_id, kind, item_id, payload, publisher, at) ` +
      `select $1, 'publish', $2 || g, '<x/>', 'alice@example.org', $3::timestamptz + g * interval '1 minute' from generate_series(0, $4 - 1) g returning seq`,
    values: [nodeId, prefix, from, n],
  });
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

/** Makes the entry `seq` the current version of its item (what a publish does to `pubsub_items`). */
async function makeCurrent(db: RawDb, seq: number): Promise<void> {
  await db.query({
    text:
      `insert into pubsub_items (node_id, item_id, payload, publisher, published_seq, published_at) ` +
      `select node_id, item_id, payload, publisher, seq, at from pubsub_node_events where seq = $1`,
    values: [seq],
  });
}

const seqsOf = async (db: RawDb, nodeId: number) =>
  (await db.query<{ seq: number | string }>({ text: 'select seq from pubsub_node_events where node_id = $1 order by seq', values: [nodeId] })).map((r) => Number(r.seq));

async function sweepUntilDone(sweeper: ReturnType<typeof createNodeHistorySweeper>) {
  const total = { aged: 0, capped: 0, tombstoneEvents: 0, tombstones: 0, sweeps: 0 };
  for (let i = 0; i < 50; i++) {
    const r = await sweeper.sweep();
    total.aged += r.aged;
    total.capped += r.capped;
    total.tombstoneEvents += r.tombstoneEvents;
    total.tombstones += r.tombstones;
    total.sweeps++;
    if (!r.more) return total;
  }
  throw new Error('the sweeps never finished');
}

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`node history retention on ${backend}`, () => {
    let temp: TempDatabase | undefined;
    let h: DatabaseHandle;
    before(async () => {
      if (backend === 'postgres') temp = await createTempDatabase('dbroker_nodehistory');
      h = await createDatabase({ url: temp?.url });
      await runMigrations(h.db, { migrationsDir: MIGRATIONS_DIR });
    });
    after(async () => {
      await h?.close();
      await temp?.drop();
    });
    const reset = () => h.raw.query({ text: 'truncate pubsub_items, pubsub_node_events, pubsub_subscriptions, pubsub_affiliations, pubsub_nodes' });

    test('old history goes in bounded batches; recent entries and the entries of current items stay; MAM pages over what remains', async () => {
      await reset();
      const node = await createNode(h.raw, 'n');
      const old = await appendEntries(h.raw, node, 40, ago(100), 'old');
      const recent = await appendEntries(h.raw, node, 12, ago(10), 'new');
      // two items still current since long ago, one current recently
      await makeCurrent(h.raw, old[3]!);
      await makeCurrent(h.raw, old[17]!);
      await makeCurrent(h.raw, recent[5]!);

      const first = await deleteOldNodeEvents(h.raw, ago(30), { batchRows: 7, maxBatches: 2 });
      assert.deepEqual(first, { deleted: 14, batches: 2, more: true });
      const sweeper = createNodeHistorySweeper(h.raw, { retentionDays: 30, maxEvents: 0, tombstoneDays: 0, bounds: { batchRows: 7, maxBatches: 2 }, now });
      const rest = await sweepUntilDone(sweeper);
      assert.equal(14 + rest.aged, 38);
      assert.ok(rest.sweeps >= 2, 'more than one sweep: each is bounded');
      const kept = [old[3]!, old[17]!, ...recent];
      assert.deepEqual(await seqsOf(h.raw, node), kept);
      assert.equal(Number((await h.raw.query<{ n: number }>({ text: 'select count(*)::int as n from pubsub_items' }))[0]!.n), 3);

      // MAM's reader pages over the survivors, forwards and backwards, and counts them
      const log = createPgNodeLog(h.db);
      const forward: number[] = [];
      let after: number | undefined;
      for (;;) {
        const page = await log.page(node, { direction: 'forward', limit: 3, afterSeq: after });
        forward.push(...page.entries.map((e) => Number(e.seq)));
        if (!page.more) break;
        after = Number(page.entries.at(-1)!.seq);
      }
      assert.deepEqual(forward, kept);
      const backward: number[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await log.page(node, { direction: 'backward', limit: 4, beforeSeq: before });
        backward.unshift(...page.entries.map((e) => Number(e.seq)));
        if (!page.more) break;
        before = Number(page.entries[0]!.seq);
      }
      assert.deepEqual(backward, kept);
      assert.deepEqual(await log.count(node, {}), { total: kept.length, preceding: 0 });
      const window = await log.page(node, { direction: 'forward', limit: 50, start: ago(200), end: ago(50) });
      assert.deepEqual(window.entries.map((e) => Number(e.seq)), [old[3]!, old[17]!]);
    });

    test('the per-node cap keeps the newest entries and the current items, oldest deleted first, and follows new entries', async () => {
      await reset();
      const big = await createNode(h.raw, 'big');
      const small = await createNode(h.raw, 'small');
      const seqs = await appendEntries(h.raw, big, 50, ago(1));
      const smallSeqs = await appendEntries(h.raw, small, 8, ago(1), 's');
      await makeCurrent(h.raw, seqs[2]!);

      // one statement of the cap deletes the oldest first
      const one = await deleteNodeEventsOverCap(h.raw, big, 10, { batchRows: 5, maxBatches: 1 });
      assert.deepEqual(one, { deleted: 5, batches: 1, more: true });
      assert.deepEqual((await seqsOf(h.raw, big)).slice(0, 3), [seqs[2]!, seqs[6]!, seqs[7]!]);

      const sweeper = createNodeHistorySweeper(h.raw, { retentionDays: 0, maxEvents: 10, tombstoneDays: 0, bounds: { batchRows: 5, maxBatches: 3 }, now });
      const r = await sweeper.sweep();
      assert.ok(r.capped <= 15, `one sweep deletes at most maxBatches * batchRows (${r.capped})`);
      await sweepUntilDone(sweeper);
      assert.deepEqual(await seqsOf(h.raw, big), [seqs[2]!, ...seqs.slice(40)]);
      assert.deepEqual(await seqsOf(h.raw, small), smallSeqs, 'a node under its cap is untouched');

      // entries appended after the sweeper looked are capped by its next sweeps
      const more = await appendEntries(h.raw, big, 20, ago(0.5), 'later');
      await sweepUntilDone(sweeper);
      assert.deepEqual(await seqsOf(h.raw, big), [seqs[2]!, ...more.slice(10)]);
    });

    test('many nodes over the cap in one chunk, few statements a sweep: every sweep makes progress until all are under it', async () => {
      await reset();
      const nodes: number[] = [];
      for (let i = 0; i < 12; i++) nodes.push(await createNode(h.raw, `m${i}`));
      // interleaved entries: every chunk of the log touches many nodes
      for (let round = 0; round < 9; round++) for (const n of nodes) await appendEntries(h.raw, n, 1, ago(2, round * 60_000), `r${round}-`);
      const sweeper = createNodeHistorySweeper(h.raw, { retentionDays: 0, maxEvents: 4, tombstoneDays: 0, bounds: { batchRows: 50, maxBatches: 3 }, now });
      const first = await sweeper.sweep();
      assert.equal(first.capped, 15, 'three nodes (one statement each) in the first sweep');
      const rest = await sweepUntilDone(sweeper);
      assert.equal(first.capped + rest.capped, 12 * 5);
      for (const n of nodes) assert.equal((await seqsOf(h.raw, n)).length, 4);
    });

    test('tombstones: a node deleted before the cutoff loses its log then its row; later tombstones and live nodes stay', async () => {
      await reset();
      const gone = await createNode(h.raw, 'same', ago(40));
      const recentlyGone = await createNode(h.raw, 'other', ago(5));
      const live = await createNode(h.raw, 'same'); // recreated under the freed name
      await appendEntries(h.raw, gone, 23, ago(60));
      await appendEntries(h.raw, recentlyGone, 4, ago(60));
      const liveSeqs = await appendEntries(h.raw, live, 3, ago(60));
      const empty = await createNode(h.raw, 'empty', ago(31)); // a tombstone without log

      const sweeper = createNodeHistorySweeper(h.raw, { retentionDays: 0, maxEvents: 0, tombstoneDays: 30, bounds: { batchRows: 10, maxBatches: 2 }, now });
      const first = await sweeper.sweep();
      assert.deepEqual([first.tombstoneEvents, first.more], [20, true]);
      const rest = await sweepUntilDone(sweeper);
      assert.equal(first.tombstoneEvents + rest.tombstoneEvents, 23);
      assert.equal(first.tombstones + rest.tombstones, 2);
      const nodes = (await h.raw.query<{ id: number | string }>({ text: 'select id from pubsub_nodes order by id' })).map((r) => Number(r.id));
      assert.deepEqual(nodes, [recentlyGone, live]);
      assert.ok(!nodes.includes(empty));
      assert.equal(await count(h.raw, `node_id = ${recentlyGone}`), 4);
      assert.deepEqual(await seqsOf(h.raw, live), liveSeqs);
    });

    test('0 keeps everything', async () => {
      await reset();
      const node = await createNode(h.raw, 'n', ago(1000));
      await appendEntries(h.raw, node, 30, ago(1000));
      const r = await createNodeHistorySweeper(h.raw, { retentionDays: 0, maxEvents: 0, tombstoneDays: 0, bounds: { batchRows: 10, maxBatches: 10 }, now }).sweep();
      assert.deepEqual(r, { aged: 0, capped: 0, tombstoneEvents: 0, tombstones: 0, more: false });
      assert.equal(await count(h.raw), 30);
    });

    if (backend === 'postgres') {
      test('two replicas at once delete every entry due exactly once, without waiting on each other', async () => {
        await reset();
        const nodes = [await createNode(h.raw, 'a'), await createNode(h.raw, 'b'), await createNode(h.raw, 'c', ago(40))];
        for (const n of nodes) await appendEntries(h.raw, n, 200, ago(100));
        const hot = await createNode(h.raw, 'hot');
        await appendEntries(h.raw, hot, 300, ago(1));
        const other = await createDatabase({ url: temp!.url });
        try {
          const bounds = { batchRows: 25, maxBatches: 100 };
          const [a, b] = await Promise.all([deleteOldNodeEvents(h.raw, ago(90), bounds), deleteOldNodeEvents(other.raw, ago(90), bounds)]);
          assert.equal(a.deleted + b.deleted, 600);
          const opts = { retentionDays: 0, maxEvents: 50, tombstoneDays: 30, bounds, now };
          await appendEntries(h.raw, nodes[2]!, 10, ago(50));
          const [c, d] = await Promise.all([sweepUntilDone(createNodeHistorySweeper(h.raw, opts)), sweepUntilDone(createNodeHistorySweeper(other.raw, opts))]);
          assert.equal(c.capped + d.capped, 250);
          assert.equal(c.tombstoneEvents + d.tombstoneEvents, 10);
          assert.equal(c.tombstones + d.tombstones, 1);
          assert.equal(await count(h.raw), 50);
          const tombs = await deleteOldTombstones(h.raw, ago(30), bounds);
          assert.deepEqual([tombs.events.deleted, tombs.nodes.deleted], [0, 0]);
        } finally {
          await other.close();
        }
      });

      test('a sweep never waits on a writer: rows another transaction holds are skipped and left for a later sweep', async () => {
        await reset();
        const node = await createNode(h.raw, 'w');
        const seqs = await appendEntries(h.raw, node, 30, ago(100));
        const other = await createDatabase({ url: temp!.url });
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => (locked = r));
        // a writer of the node erasing payloads holds (here: the first 10) entries' row locks
        const writer = other.raw.transaction(async (tx) => {
          await tx.query({ text: 'select seq from pubsub_node_events where node_id = $1 and seq <= $2 for update', values: [node, seqs[9]] });
          locked();
          await held;
        });
        try {
          await isLocked;
          const started = Date.now();
          const r = await deleteOldNodeEvents(h.raw, ago(30), { batchRows: 100, maxBatches: 5 });
          assert.equal(r.deleted, 20);
          assert.ok(Date.now() - started < 2_000, 'no lock wait');
        } finally {
          release();
          await writer;
          await other.close();
        }
        assert.equal((await deleteOldNodeEvents(h.raw, ago(30), { batchRows: 100, maxBatches: 5 })).deleted, 10);
      });

      test('the deletes use their indexes', async () => {
        const plan = async (text: string) =>
          (await h.raw.transaction(async (tx) => {
            await tx.query({ text: 'set local enable_seqscan = off' });
            return await tx.query<{ 'QUERY PLAN': string }>({ text: `explain ${text}` });
          })).map((r) => r['QUERY PLAN']).join('\n');
        assert.match(await plan(`select seq from pubsub_node_events where at < now() order by at limit 10`), /pubsub_node_events_at_idx/);
        assert.match(await plan(`select id from pubsub_nodes where deleted_at < now() order by deleted_at limit 10`), /pubsub_nodes_deleted_at_idx/);
        assert.match(await plan(`select 1 from pubsub_items where node_id = 1 and published_seq = 5`), /pubsub_items_node_published_seq_idx|pubsub_items_node_id_item_id_pk/);
      });
    }
  });
}
