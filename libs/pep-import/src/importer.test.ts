import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import {
  createMemoryNodeLog,
  createMemoryPubsubStorage,
  createPgNodeLog,
  createPgPubsubStorage,
  createPubsubEngine,
  type NodeLogReader,
  type PubsubStorage,
  type PubsubTransaction,
} from '@dbroker/pubsub';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { importAll, type ImportOptions } from './importer';
import type { ImportNode, ImportSource, ImportUser } from './model';

// The importer on the three storages (memory, PGlite, real Postgres): what lands, that it lands as a
// native publish would have written it, run twice, after an interruption, dry run, and bad nodes.

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000);
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';

const NODES: ImportNode[] = [
  {
    name: 'urn:xmpp:avatar:data',
    config: {},
    affiliations: [],
    subscriptions: [],
    items: [{ id: 'abc', payload: "<data xmlns='urn:xmpp:avatar:data'>aGVsbG8=</data>", publisher: ALICE, at: at(1) }],
    dropped: [],
  },
  {
    name: 'eu.siacs.conversations.axolotl.devicelist',
    config: { access_model: 'open' },
    affiliations: [],
    subscriptions: [{ jid: `${BOB}/phone` }],
    items: [{ id: 'current', payload: "<list xmlns='eu.siacs.conversations.axolotl'><device id='42'/></list>", publisher: ALICE, at: at(2) }],
    dropped: [],
  },
  {
    name: 'urn:xmpp:bookmarks:1',
    config: { access_model: 'whitelist', max_items: 'max', send_last_published_item: 'never' },
    affiliations: [{ jid: BOB, affiliation: 'member' }],
    subscriptions: [],
    items: [
      { id: 'a@conf.example.org', payload: "<conference xmlns='urn:xmpp:bookmarks:1' name='A &amp; &lt;b&gt;'/>", publisher: ALICE, at: at(3) },
      { id: 'b@conf.example.org', payload: "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>al</nick></conference>", publisher: ALICE, at: at(4) },
    ],
    dropped: ['title=Bookmarks'],
  },
  {
    name: 'multi',
    config: { max_items: 2 },
    affiliations: [],
    subscriptions: [],
    items: [0, 1, 2].map((i) => ({ id: `m${i}`, payload: `<entry xmlns='x:multi'>n${i}</entry>`, publisher: `${ALICE}/desk`, at: at(10 + i) })),
    dropped: [],
  },
];

const BROKEN: ImportNode = { name: 'broken', config: {}, affiliations: [], subscriptions: [], items: [{ id: 'x'.repeat(2000), payload: '<x/>', publisher: null, at: at(5) }], dropped: [] };

function sourceOf(users: ImportUser[]): ImportSource {
  return {
    label: 'test',
    countUsers: async () => users.length,
    async *users() {
      yield* users;
    },
  };
}

const ALICE_USER: ImportUser = { owner: ALICE, nodes: [...NODES, BROKEN], problems: [{ owner: ALICE, node: 'unreadable', where: 'file', message: 'bad file' }] };
const CAROL_USER: ImportUser = { owner: 'carol@example.org', nodes: [{ ...NODES[0]!, items: [{ ...NODES[0]!.items[0]!, publisher: 'carol@example.org' }] }], problems: [] };

/** Everything the broker keeps about a service, in a comparable shape (no seqs, no subids). */
async function snapshot(storage: PubsubStorage, log: NodeLogReader, service: string) {
  const out: Record<string, unknown> = {};
  for (const n of await storage.listNodes(service)) {
    const page = await log.page(n.id, { direction: 'forward', limit: 1000 });
    out[n.node] = {
      config: n.config,
      createdAt: n.createdAt.toISOString(),
      items: (await storage.listItems(n.id)).map((i) => ({ id: i.itemId, payload: i.payload, publisher: i.publisher, at: i.publishedAt.toISOString() })),
      log: page.entries.map((e) => ({ kind: e.kind, itemId: e.itemId, payload: e.payload, publisher: e.publisher, at: e.at.toISOString() })),
      affiliations: await storage.listAffiliations(n.id),
      subscriptions: (await storage.listSubscriptions(n.id)).map((s) => s.jid),
    };
  }
  return out;
}

/** A storage whose `failAfter`-th publish throws (a crash mid-import), otherwise the real one. */
function failingStorage(inner: PubsubStorage, failAfter: number): PubsubStorage {
  let publishes = 0;
  return {
    ...inner,
    withTransaction: (fn) =>
      inner.withTransaction((tx) =>
        fn(
          new Proxy(tx, {
            get(target, prop, recv) {
              const v = Reflect.get(target, prop, recv) as unknown;
              if (prop !== 'publishItem' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
              return async (...args: Parameters<PubsubTransaction['publishItem']>) => {
                if (++publishes > failAfter) throw new Error('simulated crash');
                return await target.publishItem(...args);
              };
            },
          }),
        ),
      ),
  };
}

interface Backend {
  storage: PubsubStorage;
  log: NodeLogReader;
  close(): Promise<void>;
}

async function openBackend(kind: 'memory' | 'pglite' | 'postgres'): Promise<Backend> {
  if (kind === 'memory') {
    const storage = createMemoryPubsubStorage();
    return { storage, log: createMemoryNodeLog(() => storage.events()), close: async () => {} };
  }
  const temp: TempDatabase | undefined = kind === 'postgres' ? await createTempDatabase('dbroker_import') : undefined;
  const handle: DatabaseHandle = await createDatabase({ url: temp?.url });
  await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
  return {
    storage: createPgPubsubStorage(handle.raw),
    log: createPgNodeLog(handle.db),
    close: async () => {
      await handle.close();
      await temp?.drop();
    },
  };
}

for (const kind of ['memory', 'pglite', 'postgres'] as const) {
  describe(`importer on ${kind}`, () => {
    const fresh: Backend[] = [];
    const open = async () => {
      const b = await openBackend(kind);
      fresh.push(b);
      return b;
    };
    after(async () => {
      for (const b of fresh) await b.close();
    });
    const opts = (storage: PubsubStorage, extra: Partial<ImportOptions> = {}): ImportOptions => ({ storage, now: () => at(100), ...extra });

    let b: Backend;
    before(async () => {
      b = await open();
    });

    test('imports nodes, configs, members and items; the log holds the publishes at their times', async () => {
      const reports: string[] = [];
      const summary = await importAll(sourceOf([ALICE_USER, CAROL_USER]), opts(b.storage, { onUser: (r) => reports.push(r.owner) }));
      assert.deepEqual(reports, [ALICE, 'carol@example.org']);
      assert.equal(summary.users, 2);
      assert.equal(summary.nodesCreated, 5);
      assert.equal(summary.nodesSkipped, 2); // broken (item id too long) and unreadable (source problem)
      assert.equal(summary.itemsImported, 8);
      assert.deepEqual(summary.problems.map((p) => p.node), ['unreadable', 'broken']);

      const snap = (await snapshot(b.storage, b.log, ALICE)) as Record<string, any>;
      assert.deepEqual(Object.keys(snap).sort(), NODES.map((n) => n.name).sort());
      const dev = snap['eu.siacs.conversations.axolotl.devicelist'];
      assert.equal(dev.config.access_model, 'open');
      assert.equal(dev.config.max_items, 1);
      assert.deepEqual(dev.subscriptions, [`${BOB}/phone`]);
      assert.deepEqual(dev.items, [{ id: 'current', payload: NODES[1]!.items[0]!.payload, publisher: ALICE, at: at(2).toISOString() }]);
      assert.equal(dev.createdAt, at(2).toISOString());
      const bm = snap['urn:xmpp:bookmarks:1'];
      assert.equal(bm.config.access_model, 'whitelist');
      assert.equal(bm.config.max_items, 'max');
      assert.equal(bm.config.send_last_published_item, 'never');
      assert.deepEqual(bm.affiliations, [{ jid: BOB, affiliation: 'member' }]);
      assert.deepEqual(bm.items.map((i: any) => i.id), ['a@conf.example.org', 'b@conf.example.org']);
      // max_items 2: three publishes in the log (MAM history), the newest two current
      const multi = snap.multi;
      assert.deepEqual(multi.items.map((i: any) => i.id), ['m1', 'm2']);
      assert.deepEqual(multi.log.map((e: any) => [e.kind, e.itemId, e.publisher, e.at]), [0, 1, 2].map((i) => ['publish', `m${i}`, `${ALICE}/desk`, at(10 + i).toISOString()]));
      assert.equal(await b.storage.getNode(ALICE, 'broken'), undefined);
    });

    test('the rows are those a native publish writes (engine.publish with the same data)', async () => {
      const native = await open();
      const engine = createPubsubEngine({ storage: native.storage });
      for (const node of NODES) {
        for (const [i, item] of node.items.entries()) {
          const r = await engine.publish(ALICE, node.name, item.publisher ?? ALICE, item.id, item.payload, { requestId: `n-${node.name}-${i}`, publishOptions: node.config, at: item.at });
          assert.ok(r.ok, JSON.stringify(r));
        }
        if (node.affiliations.length) assert.ok((await engine.setAffiliations(ALICE, node.name, ALICE, node.affiliations, { at: at(100) })).ok);
        for (const s of node.subscriptions) assert.ok((await engine.subscribe(ALICE, node.name, s.jid, s.jid, { at: at(100) })).ok);
      }
      assert.deepEqual(await snapshot(b.storage, b.log, ALICE), await snapshot(native.storage, native.log, ALICE));
    });

    test('run twice: nothing doubles, everything reported unchanged', async () => {
      const before_ = await snapshot(b.storage, b.log, ALICE);
      const summary = await importAll(sourceOf([ALICE_USER, CAROL_USER]), opts(b.storage));
      assert.equal(summary.itemsImported, 0);
      assert.equal(summary.itemsUnchanged, 8);
      assert.equal(summary.nodesCreated, 0);
      assert.equal(summary.nodesExisting, 5);
      assert.deepEqual(await snapshot(b.storage, b.log, ALICE), before_);
    });

    test('a changed source item is imported as a new publish; the existing config is kept', async () => {
      const changed: ImportUser = {
        owner: ALICE,
        nodes: [{ ...NODES[0]!, config: { access_model: 'open' }, items: [{ ...NODES[0]!.items[0]!, payload: "<data xmlns='urn:xmpp:avatar:data'>bmV3</data>", at: at(50) }] }],
        problems: [],
      };
      const summary = await importAll(sourceOf([changed]), opts(b.storage));
      assert.equal(summary.itemsImported, 1);
      const node = (await b.storage.getNode(ALICE, 'urn:xmpp:avatar:data'))!;
      assert.equal(node.config.access_model, 'presence');
      assert.deepEqual((await b.storage.listItems(node.id)).map((i) => i.payload), ["<data xmlns='urn:xmpp:avatar:data'>bmV3</data>"]);
      assert.equal((await b.log.count(node.id, {})).total, 2);
    });

    test('interrupted mid-node: that node is absent (never half-imported), a re-run completes it exactly', async () => {
      const target = await open();
      // the 5th publish fails: avatar (1), devicelist (1), bookmarks (2) done, multi's first publish crashes
      await assert.rejects(importAll(sourceOf([ALICE_USER]), opts(failingStorage(target.storage, 4))), /simulated crash/);
      assert.deepEqual(Object.keys(await snapshot(target.storage, target.log, ALICE)).sort(), ['eu.siacs.conversations.axolotl.devicelist', 'urn:xmpp:avatar:data', 'urn:xmpp:bookmarks:1']);
      const summary = await importAll(sourceOf([ALICE_USER]), opts(target.storage));
      assert.equal(summary.itemsImported, 3);
      assert.equal(summary.itemsUnchanged, 4);
      const reference = await open();
      await importAll(sourceOf([ALICE_USER]), opts(reference.storage));
      assert.deepEqual(await snapshot(target.storage, target.log, ALICE), await snapshot(reference.storage, reference.log, ALICE));
    });

    test('dry run: the report of a real run, and nothing written', async () => {
      const target = await open();
      const reports: Array<{ owner: string; nodes: unknown[] }> = [];
      const summary = await importAll(sourceOf([ALICE_USER]), opts(target.storage, { dryRun: true, onUser: (r) => reports.push(r) }));
      assert.equal(summary.itemsImported, 7);
      assert.equal(summary.nodesCreated, 4);
      assert.deepEqual(await target.storage.listNodes(ALICE), []);
      const real: Array<{ owner: string; nodes: unknown[] }> = [];
      await importAll(sourceOf([ALICE_USER]), opts(target.storage, { onUser: (r) => real.push(r) }));
      assert.deepEqual(reports, real);
    });

    test('a node already published to through the broker keeps its newer item: older source items are not imported', async () => {
      const target = await open();
      const engine = createPubsubEngine({ storage: target.storage });
      const fresh = "<data xmlns='urn:xmpp:avatar:data'>bmV3ZXI=</data>";
      assert.ok((await engine.publish(ALICE, 'urn:xmpp:avatar:data', `${ALICE}/phone`, 'newer', fresh, { requestId: 'native-1', at: at(1000) })).ok);
      const summary = await importAll(sourceOf([ALICE_USER]), opts(target.storage));
      assert.equal(summary.itemsSuperseded, 1);
      assert.equal(summary.itemsImported, 6);
      const node = (await target.storage.getNode(ALICE, 'urn:xmpp:avatar:data'))!;
      assert.deepEqual((await target.storage.listItems(node.id)).map((i) => [i.itemId, i.payload]), [['newer', fresh]]);
      // a newer version in the source still follows it
      const newer: ImportUser = { owner: ALICE, problems: [], nodes: [{ ...NODES[0]!, items: [{ ...NODES[0]!.items[0]!, at: at(2000) }] }] };
      assert.equal((await importAll(sourceOf([newer]), opts(target.storage))).itemsImported, 1);
      assert.deepEqual((await target.storage.listItems(node.id)).map((i) => i.itemId), ['abc']);
    });

    test('several accounts at once (concurrency 4): the same result as one by one', async () => {
      const many = Array.from({ length: 9 }, (_, i): ImportUser => ({ owner: `user${i}@example.org`, nodes: NODES, problems: [] }));
      const [one, four] = [await open(), await open()];
      const s1 = await importAll(sourceOf(many), opts(one.storage));
      const s4 = await importAll(sourceOf(many), opts(four.storage, { concurrency: 4 }));
      assert.deepEqual({ ...s4 }, { ...s1 });
      assert.equal(s4.itemsImported, 9 * 7);
      for (const u of many) assert.deepEqual(await snapshot(four.storage, four.log, u.owner), await snapshot(one.storage, one.log, u.owner));
    });
  });
}

test('JIDs are stored normalised (one JID helper): owner, members, publishers; an invalid account is refused whole', async () => {
  const storage = createMemoryPubsubStorage();
  const mixed: ImportUser = {
    owner: 'Alice@Example.ORG',
    problems: [],
    nodes: [
      {
        ...NODES[2]!,
        affiliations: [{ jid: 'Bob@Example.org', affiliation: 'member' }, { jid: 'not a jid@@', affiliation: 'member' }],
        subscriptions: [{ jid: 'BOB@example.org/Phone' }],
        items: [{ ...NODES[2]!.items[0]!, publisher: 'ALICE@example.org/Desk' }],
      },
    ],
  };
  const bad: ImportUser = { owner: '@@', problems: [], nodes: NODES };
  const reports: string[][] = [];
  const summary = await importAll(sourceOf([mixed, bad]), { storage, onUser: (r) => reports.push(r.nodes.flatMap((n) => n.dropped)) });
  assert.equal(summary.users, 2);
  assert.deepEqual(summary.problems.map((p) => p.message), ['not a valid account JID: @@']);
  assert.deepEqual(reports[0], ['title=Bookmarks', 'affiliation of invalid JID not a jid@@']);
  const node = (await storage.getNode(ALICE, 'urn:xmpp:bookmarks:1'))!;
  assert.ok(node);
  assert.deepEqual(await storage.listAffiliations(node.id), [{ jid: BOB, affiliation: 'member' }]);
  assert.deepEqual((await storage.listSubscriptions(node.id)).map((s) => s.jid), ['bob@example.org/Phone']);
  assert.deepEqual((await storage.listItems(node.id)).map((i) => i.publisher), ['alice@example.org/Desk']);
  // the normalised account is the same account on a re-run with another spelling
  const again = await importAll(sourceOf([{ ...mixed, owner: 'alice@EXAMPLE.org' }]), { storage });
  assert.equal(again.itemsImported, 0);
});
