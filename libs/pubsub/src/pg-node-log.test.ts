import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createDatabase, MIGRATIONS_DIR, pubsubNodeEvents, pubsubNodes, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createMemoryNodeLog, type NodeLogFilter, type NodeLogReader } from './node-log';
import { createPgNodeLog } from './pg-node-log';
import type { StoredNodeEvent } from './storage';

// The Postgres node log against the in-memory reference, on real Postgres and on PGlite: explicit cases
// and random queries (fast-check) over a log whose timestamps are NOT in seq order (clock skew between
// replicas), where only exact predicates give the right answer.

const T0 = Date.UTC(2024, 0, 1);
const OWNER = 'alice@example.org';
const PUBLISHERS = [`${OWNER}/desk`, `${OWNER}/phone`, `${OWNER}%_/x`, 'alice@example.org.evil/x', null];

interface Seeded {
  nodeIds: number[];
  events: StoredNodeEvent[];
}

async function seed(handle: DatabaseHandle): Promise<Seeded> {
  const nodes = await handle.db
    .insert(pubsubNodes)
    .values([0, 1, 2].map((i) => ({ service: OWNER, node: `n${i}`, config: { access_model: 'open' } })))
    .returning({ id: pubsubNodes.id });
  const nodeIds = nodes.map((n) => n.id);
  const rows = Array.from({ length: 300 }, (_, i) => {
    const nodeId = nodeIds[i % 7 === 0 ? 1 : i % 11 === 0 ? 2 : 0]!;
    // mostly increasing, with some entries stamped up to 90 s early (a lagging replica's clock)
    const skew = i % 13 === 5 ? -90_000 : 0;
    return {
      nodeId,
      kind: (i % 9 === 4 ? 'retract' : 'publish') as 'publish' | 'retract',
      itemId: `item${i % 40}`,
      payload: i % 9 === 4 ? null : `<x xmlns='urn:t'>${i}</x>`,
      publisher: PUBLISHERS[i % PUBLISHERS.length] ?? null,
      requestId: null,
      at: new Date(T0 + i * 30_000 + skew),
    };
  });
  await handle.db.insert(pubsubNodeEvents).values(rows);
  const all = await handle.db.select().from(pubsubNodeEvents).orderBy(pubsubNodeEvents.seq);
  return { nodeIds, events: all.map((r) => ({ ...r })) };
}

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`node log on ${backend}`, () => {
    let temp: TempDatabase | undefined;
    let handle: DatabaseHandle;
    let pg: NodeLogReader;
    /** Time windows always through the plain keyset scan (never the (node_id, at, seq) window path). */
    let pgPlain: NodeLogReader;
    let mem: NodeLogReader;
    let data: Seeded;
    before(async () => {
      if (backend === 'postgres') temp = await createTempDatabase('dbroker_nodelog');
      handle = await createDatabase({ url: temp?.url });
      await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
      data = await seed(handle);
      pg = createPgNodeLog(handle.db);
      pgPlain = createPgNodeLog(handle.db, { windowPathMax: 0 });
      mem = createMemoryNodeLog(() => data.events);
    });
    after(async () => {
      await handle.close();
      await temp?.drop();
    });

    const node = () => data.nodeIds[0]!;
    const seqsOf = (n: number) => data.events.filter((e) => e.nodeId === n).map((e) => e.seq);

    test('pages forward and backward by keyset, oldest first, with `more`', async () => {
      const log = seqsOf(node());
      const p1 = await pg.page(node(), { direction: 'forward', limit: 10 });
      assert.deepEqual(p1.entries.map((e) => e.seq), log.slice(0, 10));
      assert.equal(p1.more, true);
      const p2 = await pg.page(node(), { direction: 'forward', limit: 10, afterSeq: p1.entries.at(-1)!.seq });
      assert.deepEqual(p2.entries.map((e) => e.seq), log.slice(10, 20));
      const last = await pg.page(node(), { direction: 'backward', limit: 10 });
      assert.deepEqual(last.entries.map((e) => e.seq), log.slice(-10));
      const prev = await pg.page(node(), { direction: 'backward', limit: 10, beforeSeq: last.entries[0]!.seq });
      assert.deepEqual(prev.entries.map((e) => e.seq), log.slice(-20, -10));
      const tail = await pg.page(node(), { direction: 'forward', limit: 1000, afterSeq: log.at(-3) });
      assert.deepEqual(tail, { entries: tail.entries, more: false });
      assert.equal(tail.entries.length, 2);
      const probe = await pg.page(node(), { direction: 'forward', limit: 0 });
      assert.deepEqual(probe, { entries: [], more: true });
      const e = p1.entries[0]!;
      const src = data.events.find((x) => x.seq === e.seq)!;
      assert.deepEqual(e, { seq: src.seq, kind: src.kind, itemId: src.itemId, payload: src.payload, publisher: src.publisher, at: src.at });
    });

    test('publisher: a bare JID matches its resources only (no LIKE wildcards, no longer domains)', async () => {
      const c = await pg.count(node(), { publisher: OWNER });
      const expected = data.events.filter((e) => e.nodeId === node() && e.publisher?.startsWith(`${OWNER}/`)).length;
      assert.equal(c.total, expected);
      assert.equal((await pg.count(node(), { publisher: 'alice@example.%' })).total, 0, 'no LIKE wildcards');
      assert.equal((await pg.count(node(), { publisher: 'alice@example.org.evil' })).total, (await mem.count(node(), { publisher: 'alice@example.org.evil' })).total);
      assert.equal((await pg.count(node(), { publisher: `${OWNER}%_` })).total, (await mem.count(node(), { publisher: `${OWNER}%_` })).total);
      assert.equal((await pg.count(node(), { publisher: `${OWNER}%_/x` })).total, (await mem.count(node(), { publisher: `${OWNER}%_/x` })).total);
    });

    test('existing and bounds are per node', async () => {
      const mine = seqsOf(node());
      const theirs = seqsOf(data.nodeIds[1]!);
      const found = await pg.existing(node(), [mine[0]!, theirs[0]!, 9_999_999, mine[0]!]);
      assert.deepEqual([...found], [mine[0]]);
      const b = await pg.bounds(node());
      assert.equal(b?.first.seq, mine[0]);
      assert.equal(b?.last.seq, mine.at(-1));
      const empty = await handle.db.insert(pubsubNodes).values({ service: OWNER, node: 'empty', config: {} }).returning({ id: pubsubNodes.id });
      assert.equal(await pg.bounds(empty[0]!.id), undefined);
      assert.deepEqual(await pg.page(empty[0]!.id, { direction: 'backward', limit: 5 }), { entries: [], more: false });
      assert.deepEqual(await pg.count(empty[0]!.id, {}, { precedingSeq: 5 }), { total: 0, preceding: 0 });
    });

    test('random filters and pages agree with the reference (time bounds exact despite skewed stamps)', async () => {
      const allSeqs = data.events.map((e) => e.seq);
      const seqArb = fc.oneof(fc.constantFrom(...allSeqs), fc.integer({ min: 0, max: allSeqs.at(-1)! + 5 }));
      const timeArb = fc.integer({ min: -5, max: 305 }).map((k) => new Date(T0 + k * 30_000 + (k % 3) * 7_000));
      const filterArb: fc.Arbitrary<NodeLogFilter> = fc.record(
        {
          afterSeq: seqArb,
          beforeSeq: seqArb,
          start: timeArb,
          end: timeArb,
          publisher: fc.constantFrom(OWNER, `${OWNER}/desk`, `${OWNER}/phone`, 'bob@example.org'),
          seqs: fc.array(seqArb, { maxLength: 8 }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...data.nodeIds),
          filterArb,
          fc.constantFrom<'forward' | 'backward'>('forward', 'backward'),
          fc.integer({ min: 0, max: 25 }),
          fc.option(seqArb, { nil: undefined }),
          fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
          async (nodeId, filter, direction, limit, precedingSeq, max) => {
            const q = { ...filter, direction, limit };
            const expected = await mem.page(nodeId, q);
            assert.deepEqual(await pg.page(nodeId, q), expected);
            if (filter.start !== undefined || filter.end !== undefined) assert.deepEqual(await pgPlain.page(nodeId, q), expected);
            assert.deepEqual(await pg.count(nodeId, filter, { precedingSeq, max }), await mem.count(nodeId, filter, { precedingSeq, max }));
          },
        ),
        { numRuns: backend === 'postgres' ? 300 : 100 },
      );
    });
  });
}
