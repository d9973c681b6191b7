import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, MIGRATIONS_DIR, runMigrations } from '@dbroker/store';
import { createMemoryPubsubStorage, createPgPubsubStorage, serializeStandalone, type PubsubStorage } from '@dbroker/pubsub';
import { parseXml } from '@dbroker/protocol';
import { createTempDatabase } from '../../../test/harness/postgres';
import { exportXep0227, listServices } from './export';
import { importAll } from './importer';
import type { ImportSource, ImportUser } from './model';
import { createXep0227Source } from './xep0227';

// Export to XEP-0227 and import it into a fresh store: the same nodes, configs, members and items (ids,
// payloads, publishers, times). And documents shaped as Prosody's mod_storage_xep0227 writes them.

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const at = (s: number) => new Date(T0 + s * 1000);
const dir = await mkdtemp(join(tmpdir(), 'dbroker-xep0227-'));
after(() => rm(dir, { recursive: true, force: true }));

const USERS: ImportUser[] = [
  {
    owner: 'alice@example.org',
    problems: [],
    nodes: [
      {
        name: 'urn:xmpp:bookmarks:1',
        config: { access_model: 'whitelist', max_items: 'max', send_last_published_item: 'never' },
        affiliations: [{ jid: 'bob@example.org', affiliation: 'member' }, { jid: 'eve@example.org', affiliation: 'outcast' }],
        subscriptions: [{ jid: 'bob@example.org/phone' }],
        items: [
          { id: 'r@conf.example.org', payload: "<conference xmlns='urn:xmpp:bookmarks:1' name='Ünïcode &amp; &lt;&gt; &quot;q&quot;'><nick>al</nick></conference>", publisher: 'alice@example.org/desk', at: at(1) },
          { id: 's@conf.example.org', payload: "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/>", publisher: 'alice@example.org', at: at(2) },
        ],
        dropped: [],
      },
      {
        name: 'prefixed',
        config: { max_items: 5, notify_retract: false, roster_groups_allowed: ['Friends', 'Work'], access_model: 'roster' },
        affiliations: [],
        subscriptions: [],
        items: [{ id: 'p1', payload: "<x:thing xmlns:x='urn:example:x' x:attr='v'><x:child>t\n  ws</x:child></x:thing>", publisher: 'alice@example.org', at: at(3) }],
        dropped: [],
      },
      { name: 'empty', config: { access_model: 'open' }, affiliations: [], subscriptions: [], items: [], dropped: [] },
    ],
  },
  {
    owner: 'carol@other.example',
    problems: [],
    nodes: [{ name: 'urn:xmpp:avatar:data', config: {}, affiliations: [], subscriptions: [], items: [{ id: 'h', payload: "<data xmlns='urn:xmpp:avatar:data'>AAAA</data>", publisher: 'carol@other.example', at: at(4) }], dropped: [] }],
  },
];

// payloads as a native publish stores them (ltx serialisation: double-quoted attributes)
for (const u of USERS) for (const n of u.nodes) for (const i of n.items) i.payload = serializeStandalone(parseXml(i.payload));

const sourceOf = (users: ImportUser[]): ImportSource => ({ label: 't', countUsers: async () => users.length, users: async function* () { yield* users; } });

async function state(storage: PubsubStorage, service: string) {
  const out: Record<string, unknown> = {};
  for (const n of await storage.listNodes(service)) {
    out[n.node] = {
      config: n.config,
      items: (await storage.listItems(n.id)).map((i) => ({ id: i.itemId, payload: i.payload, publisher: i.publisher, at: i.publishedAt.toISOString() })),
      affiliations: await storage.listAffiliations(n.id),
      subscriptions: (await storage.listSubscriptions(n.id)).map((s) => ({ jid: s.jid, subid: s.subid })),
    };
  }
  return out;
}

async function exportToFile(storage: PubsubStorage, services: string[], name: string): Promise<string> {
  let text = '';
  await exportXep0227(storage, services, async (c) => {
    text += c;
  });
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

for (const kind of ['memory', 'postgres'] as const) {
  describe(`XEP-0227 round trip on ${kind}`, () => {
    const closers: Array<() => Promise<void>> = [];
    after(async () => {
      for (const c of closers) await c();
    });
    async function fresh(): Promise<{ storage: PubsubStorage; services: () => Promise<string[]> }> {
      if (kind === 'memory') {
        const storage = createMemoryPubsubStorage();
        return { storage, services: async () => ['alice@example.org', 'carol@other.example'] };
      }
      const temp = await createTempDatabase('dbroker_xep0227');
      const h = await createDatabase({ url: temp.url });
      await runMigrations(h.db, { migrationsDir: MIGRATIONS_DIR });
      closers.push(async () => {
        await h.close();
        await temp.drop();
      });
      return { storage: createPgPubsubStorage(h.raw), services: () => listServices(h.raw) };
    }

    test('export then import into a fresh store gives the same data; importing again changes nothing', async () => {
      const a = await fresh();
      await importAll(sourceOf(USERS), { storage: a.storage });
      const services = await a.services();
      assert.deepEqual(services, ['alice@example.org', 'carol@other.example']);
      const file = await exportToFile(a.storage, services, `all-${kind}.xml`);
      const b = await fresh();
      const summary = await importAll(createXep0227Source({ file }), { storage: b.storage });
      assert.deepEqual(summary.problems, []);
      assert.equal(summary.itemsImported, 4);
      for (const s of services) assert.deepEqual(await state(b.storage, s), await state(a.storage, s), s);
      const again = await importAll(createXep0227Source({ file }), { storage: b.storage });
      assert.equal(again.itemsImported, 0);
      assert.equal(again.itemsUnchanged, 4);
      // one account only
      const one = await exportToFile(a.storage, ['carol@other.example'], `carol-${kind}.xml`);
      const c = await fresh();
      await importAll(createXep0227Source({ file: one }), { storage: c.storage });
      assert.deepEqual(await c.storage.listNodes('alice@example.org'), []);
      assert.deepEqual(await state(c.storage, 'carol@other.example'), await state(a.storage, 'carol@other.example'));
    });
  });
}

test("Prosody's mod_storage_xep0227 shape: full node_config form, `subscribed` attribute, items without publisher or time", async () => {
  const file = join(dir, 'prosody.xml');
  await writeFile(
    file,
    `<?xml version='1.0' encoding='utf-8'?>
<server-data xmlns='urn:xmpp:pie:0'><host jid='Example.org'><user name='alice' password='x'>
<pubsub xmlns='http://jabber.org/protocol/pubsub'>
  <items node='urn:xmpp:bookmarks:1'><item id='r@c'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/></item></items>
  <items node='legacy'><item id='1'><x xmlns='urn:x'/></item></items>
  <items node='bad'><item id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></item></items>
</pubsub>
<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>
  <configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'>
    <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
    <field var='pubsub#title'><value>My bookmarks</value></field>
    <field var='pubsub#max_items'><value>max</value></field>
    <field var='pubsub#persist_items'><value>1</value></field>
    <field var='pubsub#access_model'><value>whitelist</value></field>
    <field var='pubsub#publish_model'><value>publishers</value></field>
    <field var='pubsub#send_last_published_item'><value>never</value></field>
    <field var='pubsub#deliver_notifications'><value>1</value></field>
    <field var='pubsub#deliver_payloads'><value>1</value></field>
    <field var='pubsub#notification_type'><value>headline</value></field>
  </x></configure>
  <affiliations node='urn:xmpp:bookmarks:1'><affiliation jid='bob@example.org' affiliation='member'/><affiliation jid='alice@example.org' affiliation='owner'/></affiliations>
  <subscriptions node='urn:xmpp:bookmarks:1'><subscription jid='bob@example.org/pc' subscribed='subscribed'/></subscriptions>
</pubsub>
</user></host></server-data>`,
  );
  const storage = createMemoryPubsubStorage();
  const reports: Array<{ owner: string; dropped: string[] }> = [];
  const now = new Date(T0);
  const summary = await importAll(createXep0227Source({ file, now: () => now }), { storage, onUser: (r) => reports.push({ owner: r.owner, dropped: r.nodes.flatMap((n) => n.dropped) }) });
  assert.deepEqual(summary.problems.map((p) => p.node), ['bad']);
  assert.deepEqual(reports, [{ owner: 'alice@example.org', dropped: ['pubsub#title=My bookmarks', 'pubsub#deliver_notifications=1', 'pubsub#notification_type=headline'] }]);
  const s = await state(storage, 'alice@example.org');
  assert.deepEqual(Object.keys(s), ['legacy', 'urn:xmpp:bookmarks:1']);
  const bm = s['urn:xmpp:bookmarks:1'] as any;
  assert.equal(bm.config.access_model, 'whitelist');
  assert.equal(bm.config.max_items, 'max');
  assert.equal(bm.config.send_last_published_item, 'never');
  assert.deepEqual(bm.affiliations, [{ jid: 'bob@example.org', affiliation: 'member' }]);
  assert.deepEqual(bm.subscriptions.map((x: any) => x.jid), ['bob@example.org/pc']);
  assert.deepEqual(bm.items, [{ id: 'r@c', payload: '<conference xmlns="urn:xmpp:bookmarks:1" autojoin="true"/>', publisher: 'alice@example.org', at: now.toISOString() }]);
  assert.equal((s.legacy as any).config.access_model, 'presence');
});

test('not a XEP-0227 document, or not XML: the import fails with a clear error before writing anything', async () => {
  const storage = createMemoryPubsubStorage();
  for (const [name, text] of [['wrong-root.xml', "<foo xmlns='urn:x'/>"], ['broken.xml', "<server-data xmlns='urn:xmpp:pie:0'><host>"], ['entity.xml', "<!DOCTYPE x [<!ENTITY a 'b'>]><server-data xmlns='urn:xmpp:pie:0'/>"]] as const) {
    const file = join(dir, name);
    await writeFile(file, text);
    await assert.rejects(importAll(createXep0227Source({ file }), { storage }), /XEP-0227|malformed|DTD|unexpected|expected|end/i, name);
  }
  await assert.rejects(importAll(createXep0227Source({ file: join(dir, 'big.xml'), maxBytes: 10 }), { storage }), /ENOENT/);
  const big = join(dir, 'big.xml');
  await writeFile(big, "<server-data xmlns='urn:xmpp:pie:0'/>");
  await assert.rejects(importAll(createXep0227Source({ file: big, maxBytes: 10 }), { storage }), /more than the 10 allowed/);
});

test('a file written by the real prosody-migrator 0.12 (internal -> xep0227, stores accounts + pep-pubsub)', async () => {
  // fixtures/prosody-migrator-alice.xml: real Prosody 0.12 mod_pep data (whitelist bookmarks with a member,
  // a 3-item node with max_items 10) converted by prosody-migrator; only the SCRAM credentials removed
  const storage = createMemoryPubsubStorage();
  const now = new Date(T0);
  const dropped: string[] = [];
  const summary = await importAll(createXep0227Source({ file: new URL('./fixtures/prosody-migrator-alice.xml', import.meta.url).pathname, now: () => now }), {
    storage,
    onUser: (r) => dropped.push(...r.nodes.flatMap((n) => n.dropped.map((d) => `${n.node}: ${d}`))),
  });
  assert.deepEqual(summary.problems, []);
  assert.equal(summary.itemsImported, 4);
  assert.deepEqual(dropped, ['multi: pubsub#deliver_notifications=1', 'urn:xmpp:bookmarks:1: pubsub#deliver_notifications=1']);
  const s = (await state(storage, 'alice@pep.localhost')) as Record<string, any>;
  assert.deepEqual(Object.keys(s), ['multi', 'urn:xmpp:bookmarks:1']);
  assert.equal(s.multi.config.max_items, 10);
  assert.equal(s.multi.config.access_model, 'presence');
  assert.deepEqual(s.multi.items.map((i: any) => [i.id, i.payload, i.publisher]), [0, 1, 2].map((i) => [`m${i}`, `<entry xmlns="x:multi">n${i}</entry>`, 'alice@pep.localhost']));
  const bm = s['urn:xmpp:bookmarks:1'];
  assert.equal(bm.config.access_model, 'whitelist');
  assert.equal(bm.config.max_items, 'max');
  assert.deepEqual(bm.affiliations, [{ jid: 'bob@pep.localhost', affiliation: 'member' }]);
  assert.deepEqual(bm.items.map((i: any) => i.payload), ['<conference autojoin="true" name="Room &quot;é&quot; &lt;&amp;&gt;" xmlns="urn:xmpp:bookmarks:1"><nick>al</nick></conference>']);
});
