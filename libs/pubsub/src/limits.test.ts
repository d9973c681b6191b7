import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, MIGRATIONS_DIR, runMigrations } from '@dbroker/store';
import { createTempDatabase } from '../../../test/harness/postgres';
import { createPubsubEngine, type PubsubEngine, type PubsubResult } from './engine';
import type { LimitHit, PubsubLimits } from './limits';
import { createPgPubsubStorage } from './pg-storage';
import type { PubsubStorage } from './storage';
import { BACKENDS, createStorageFixture, type StorageFixture } from './test-fixtures';

// Every per-user limit at and over its bound, on the in-memory storage, real Postgres and PGlite (the
// storages must enforce the same), and the usage accounting checked against a recount after each write.

const rid = () => randomUUID();
let counter = 0;
const account = () => {
  const bare = `limited${++counter}-${randomUUID().slice(0, 8)}@example.org`;
  return { bare, full: `${bare}/phone` };
};
/** A payload of exactly `bytes` UTF-8 bytes (with two-byte characters when `wide`). */
function payloadOf(bytes: number, wide = false): string {
  const head = "<x xmlns='urn:t'>";
  const tail = '</x>';
  const room = bytes - head.length - tail.length;
  assert.ok(room >= 0);
  const body = wide ? 'é'.repeat(Math.floor(room / 2)) + 'a'.repeat(room % 2) : 'a'.repeat(room);
  const xml = head + body + tail;
  assert.equal(Buffer.byteLength(xml, 'utf8'), bytes);
  return xml;
}

function value<T>(r: PubsubResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error}${r.text ? ` (${r.text})` : ''}`);
  return r.value;
}
function errorOf<T>(r: PubsubResult<T>): string {
  assert.equal(r.ok, false, 'expected an error');
  return r.ok ? '' : r.error;
}

/** The owner's usage recounted from what the storage holds. */
async function recount(storage: PubsubStorage, service: string) {
  const nodes = await storage.listNodes(service);
  let bytes = 0;
  for (const n of nodes) for (const i of await storage.listItems(n.id)) bytes += Buffer.byteLength(i.payload, 'utf8');
  return { nodes: nodes.length, bytes };
}

async function assertUsage(storage: PubsubStorage, service: string, expected?: { nodes: number; bytes: number }) {
  const kept = await storage.ownerUsage(service);
  assert.deepEqual(kept, await recount(storage, service), 'kept usage differs from a recount');
  if (expected) assert.deepEqual(kept, expected);
}

for (const backend of BACKENDS) {
  describe(`per-user limits on ${backend} storage`, () => {
    let fx: StorageFixture;
    const hits: LimitHit[] = [];
    const engineWith = (limits: Partial<PubsubLimits>, maxItemsPerNode?: number): PubsubEngine =>
      createPubsubEngine({ storage: fx.storage, limits, maxItemsPerNode, onLimit: (h) => hits.push(h), maxPayloadBytes: limits.maxPayloadBytes });
    const hitsOf = (service: string, limit: string) => hits.filter((h) => h.service === service && h.limit === limit);
    before(async () => {
      fx = await createStorageFixture(backend);
    });
    after(async () => {
      await fx.close();
    });

    test('nodes per user: the limit is reached by create and auto-create, the next one is refused and not created', async () => {
      const engine = engineWith({ maxNodesPerUser: 3 });
      const a = account();
      value(await engine.createNode(a.bare, 'n1', a.full));
      value(await engine.publish(a.bare, 'n2', a.full, 'i', payloadOf(40), { requestId: rid() }));
      value(await engine.createNode(a.bare, 'n3', a.full));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 40 });
      assert.equal(errorOf(await engine.createNode(a.bare, 'n4', a.full)), 'max-nodes-exceeded');
      assert.equal(errorOf(await engine.publish(a.bare, 'n5', a.full, 'i', payloadOf(40), { requestId: rid() })), 'max-nodes-exceeded');
      assert.equal(await fx.storage.getNode(a.bare, 'n4'), undefined);
      assert.equal(await fx.storage.getNode(a.bare, 'n5'), undefined);
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 40 });
      // publishing to an existing node is not a new node
      value(await engine.publish(a.bare, 'n1', a.full, 'i', payloadOf(40), { requestId: rid() }));
      assert.deepEqual(
        hitsOf(a.bare, 'nodes-per-user').map((h) => [h.node, h.value, h.max]),
        [
          ['n4', 4, 3],
          ['n5', 4, 3],
        ],
      );
      // deleting a node frees its place (and its bytes)
      value(await engine.deleteNode(a.bare, 'n2', a.full, { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 40 });
      value(await engine.createNode(a.bare, 'n4', a.full));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 40 });
      // another account has its own count
      const b = account();
      value(await engine.createNode(b.bare, 'n1', b.full));
      await assertUsage(fx.storage, b.bare, { nodes: 1, bytes: 0 });
    });

    test('payload: exactly the limit is stored, one byte more is payload-too-big', async () => {
      const engine = engineWith({ maxPayloadBytes: 300 });
      const a = account();
      value(await engine.publish(a.bare, 'n', a.full, 'i', payloadOf(300), { requestId: rid() }));
      assert.equal(errorOf(await engine.publish(a.bare, 'n', a.full, 'i', payloadOf(301), { requestId: rid() })), 'payload-too-big');
      assert.equal(hitsOf(a.bare, 'payload-bytes').length, 1);
      await assertUsage(fx.storage, a.bare, { nodes: 1, bytes: 300 });
    });

    test('bytes per user: up to the quota across nodes; a publish past it is refused and rolled back; overwrite, trim, retract, purge and delete give bytes back', async () => {
      const engine = engineWith({ maxBytesPerUser: 1000 });
      const a = account();
      const opts = { publishOptions: { max_items: 10 } };
      value(await engine.publish(a.bare, 'one', a.full, 'a', payloadOf(400, true), { requestId: rid(), ...opts }));
      value(await engine.publish(a.bare, 'two', a.full, 'b', payloadOf(400), { requestId: rid(), ...opts }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 800 });
      // at the quota exactly
      value(await engine.publish(a.bare, 'two', a.full, 'c', payloadOf(200, true), { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 1000 });
      // one byte over: refused, nothing of it stays (item, event, usage); a new node created by it neither
      const before = (await fx.eventsOf(a.bare, 'two')).length;
      assert.equal(errorOf(await engine.publish(a.bare, 'two', a.full, 'd', payloadOf(30), { requestId: rid() })), 'quota-exceeded');
      assert.equal(errorOf(await engine.publish(a.bare, 'three', a.full, 'd', payloadOf(30), { requestId: rid() })), 'quota-exceeded');
      assert.equal(await fx.storage.getNode(a.bare, 'three'), undefined);
      assert.equal((await fx.eventsOf(a.bare, 'two')).length, before);
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 1000 });
      assert.deepEqual(
        hitsOf(a.bare, 'bytes-per-user').map((h) => [h.value, h.max]),
        [
          [1030, 1000],
          [1030, 1000],
        ],
      );
      // overwriting with a smaller version is allowed and counts the difference
      value(await engine.publish(a.bare, 'one', a.full, 'a', payloadOf(100), { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 700 });
      // retract
      value(await engine.retract(a.bare, 'two', a.full, 'b', { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 300 });
      // trim by max_items on publish: node 'tiny' keeps 2
      for (const id of ['t1', 't2', 't3']) value(await engine.publish(a.bare, 'tiny', a.full, id, payloadOf(50 + Number(id[1])), { requestId: rid(), publishOptions: { max_items: 2 } }));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 300 + 52 + 53 });
      // trim by a smaller max_items
      value(await engine.configure(a.bare, 'tiny', a.full, { max_items: 1 }));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 300 + 53 });
      // persist_items off purges
      value(await engine.configure(a.bare, 'tiny', a.full, { persist_items: false }));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 300 });
      // purge
      value(await engine.purge(a.bare, 'two', a.full, { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 3, bytes: 100 });
      // delete
      value(await engine.deleteNode(a.bare, 'one', a.full, { requestId: rid() }));
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 0 });
      // a replayed publish (same request id) changes nothing
      const requestId = rid();
      value(await engine.publish(a.bare, 'two', a.full, 'r', payloadOf(70), { requestId }));
      const replay = value(await engine.publish(a.bare, 'two', a.full, 'r', payloadOf(70), { requestId }));
      assert.equal(replay.replayed, true);
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 70 });
    });

    test('bytes per user: an account over a lowered quota may still shrink its items', async () => {
      const a = account();
      value(await engineWith({}).publish(a.bare, 'n', a.full, 'i', payloadOf(500), { requestId: rid() }));
      const strict = engineWith({ maxBytesPerUser: 100 });
      value(await strict.publish(a.bare, 'n', a.full, 'i', payloadOf(400), { requestId: rid() }));
      assert.equal(errorOf(await strict.publish(a.bare, 'n', a.full, 'i', payloadOf(450), { requestId: rid() })), 'quota-exceeded');
      await assertUsage(fx.storage, a.bare, { nodes: 1, bytes: 400 });
    });

    test('items per node: max_items up to the cap, max means the cap, the oldest items go beyond it', async () => {
      const engine = engineWith({}, 5);
      const a = account();
      assert.equal(errorOf(await engine.createNode(a.bare, 'six', a.full, { max_items: 6 })), 'precondition-not-met');
      value(await engine.createNode(a.bare, 'five', a.full, { max_items: 5 }));
      for (let i = 1; i <= 7; i++) value(await engine.publish(a.bare, 'max', a.full, `i${i}`, payloadOf(30), { requestId: rid(), publishOptions: { max_items: 'max' } }));
      const items = value(await engine.getItems(a.bare, 'max', a.full)).items.map((i) => i.id);
      assert.deepEqual(items, ['i3', 'i4', 'i5', 'i6', 'i7']);
      await assertUsage(fx.storage, a.bare, { nodes: 2, bytes: 5 * 30 });
    });

    test('subscriptions per node: up to the limit; the next subscriber is refused; re-subscribing and owner changes obey it', async () => {
      const engine = engineWith({ maxSubscriptionsPerNode: 2 });
      const a = account();
      value(await engine.createNode(a.bare, 'open', a.full, { access_model: 'open' }));
      value(await engine.subscribe(a.bare, 'open', 's1@example.net/x', 's1@example.net/x'));
      value(await engine.subscribe(a.bare, 'open', 's2@example.net/x', 's2@example.net/x'));
      assert.equal(errorOf(await engine.subscribe(a.bare, 'open', 's3@example.net/x', 's3@example.net/x')), 'too-many-subscriptions');
      // the subscription in force is confirmed, not refused
      assert.equal(value(await engine.subscribe(a.bare, 'open', 's1@example.net/x', 's1@example.net/x')).created, false);
      // the owner may not go past it either, all or nothing
      assert.equal(errorOf(await engine.setSubscriptions(a.bare, 'open', a.full, [{ jid: 's2@example.net/x', subscription: 'none' }, { jid: 's4@example.net', subscription: 'subscribed' }, { jid: 's5@example.net', subscription: 'subscribed' }])), 'too-many-subscriptions');
      assert.deepEqual(value(await engine.getSubscriptions(a.bare, 'open', a.full)).map((s) => s.jid), ['s1@example.net/x', 's2@example.net/x']);
      // swapping one for another stays within it
      value(await engine.setSubscriptions(a.bare, 'open', a.full, [{ jid: 's2@example.net/x', subscription: 'none' }, { jid: 's4@example.net', subscription: 'subscribed' }]));
      value(await engine.unsubscribe(a.bare, 'open', 's1@example.net/x', 's1@example.net/x'));
      value(await engine.subscribe(a.bare, 'open', 's3@example.net/x', 's3@example.net/x'));
      assert.deepEqual(value(await engine.getSubscriptions(a.bare, 'open', a.full)).map((s) => s.jid), ['s3@example.net/x', 's4@example.net']);
      assert.equal(hitsOf(a.bare, 'subscriptions-per-node').length, 2);
    });

    test('affiliations per node: up to the limit; more is refused all or nothing; changing or removing ones set is fine', async () => {
      const engine = engineWith({ maxAffiliationsPerNode: 2 });
      const a = account();
      value(await engine.createNode(a.bare, 'wl', a.full, { access_model: 'whitelist' }));
      value(await engine.setAffiliations(a.bare, 'wl', a.full, [{ jid: 'm1@example.net', affiliation: 'member' }, { jid: 'm2@example.net', affiliation: 'member' }]));
      assert.equal(errorOf(await engine.setAffiliations(a.bare, 'wl', a.full, [{ jid: 'm3@example.net', affiliation: 'outcast' }])), 'too-many-affiliations');
      value(await engine.setAffiliations(a.bare, 'wl', a.full, [{ jid: 'm2@example.net', affiliation: 'publisher' }]));
      value(await engine.setAffiliations(a.bare, 'wl', a.full, [{ jid: 'm1@example.net', affiliation: 'none' }, { jid: 'm3@example.net', affiliation: 'member' }]));
      assert.deepEqual(
        value(await engine.getAffiliations(a.bare, 'wl', a.full)).map((x) => [x.jid, x.affiliation]),
        [
          [a.bare, 'owner'],
          ['m2@example.net', 'publisher'],
          ['m3@example.net', 'member'],
        ],
      );
      assert.equal(hitsOf(a.bare, 'affiliations-per-node').length, 1);
    });

    test('item pages: a retrieval of all items is a page of at most N, paged forward by id; max_items is clamped to N', async () => {
      const engine = engineWith({ itemsPageMax: 3 });
      const a = account();
      const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
      for (const id of ids) value(await engine.publish(a.bare, 'n', a.full, id, payloadOf(40), { requestId: rid(), publishOptions: { max_items: 10 } }));
      const first = value(await engine.getItems(a.bare, 'n', a.full));
      assert.deepEqual(first.items.map((i) => i.id), ['a', 'b', 'c']);
      assert.deepEqual(first.page, { count: 7, firstIndex: 0 });
      assert.deepEqual(hitsOf(a.bare, 'items-page').map((h) => [h.value, h.max]), [[7, 3]]);
      const second = value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'c' } }));
      assert.deepEqual(second.items.map((i) => i.id), ['d', 'e', 'f']);
      assert.deepEqual(second.page, { count: 7, firstIndex: 3 });
      const last = value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'f', max: 10 } }));
      assert.deepEqual(last.items.map((i) => i.id), ['g']);
      assert.deepEqual(last.page, { count: 7, firstIndex: 6 });
      const end = value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'g' } }));
      assert.deepEqual(end.items, []);
      assert.deepEqual(end.page, { count: 7, firstIndex: 7 });
      // a smaller page asked by the client is no limit hit
      const hitCount = hits.length;
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { page: { max: 2 } })).items.map((i) => i.id), ['a', 'b']);
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { page: { max: 0 } })), { ...first, items: [] });
      assert.equal(hits.length, hitCount);
      // unknown cursor: item-not-found (but a node the requester may not read stays invisible, as a missing one)
      assert.equal(errorOf(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'nope' } })), 'item-not-found');
      assert.equal(errorOf(await engine.getItems(a.bare, 'n', 'stranger@example.net/x', { page: { after: 'nope' } })), 'node-not-found');
      // max_items above the page limit: the newest N
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { maxItems: 50 })).items.map((i) => i.id), ['g', 'f', 'e']);
      // a node that fits in one page is one page
      const small = value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'd' } }));
      assert.deepEqual(small.items.map((i) => i.id), ['e', 'f', 'g']);
    });

    test('item pages: bounded in payload bytes too; an item larger than the budget still comes alone', async () => {
      const engine = engineWith({ itemsPageMaxBytes: 250 });
      const a = account();
      for (const id of ['a', 'b', 'c', 'd']) value(await engine.publish(a.bare, 'n', a.full, id, payloadOf(100, true), { requestId: rid(), publishOptions: { max_items: 10 } }));
      value(await engine.publish(a.bare, 'n', a.full, 'big', payloadOf(400), { requestId: rid() }));
      value(await engine.publish(a.bare, 'n', a.full, 'z', payloadOf(100), { requestId: rid() }));
      // bytes before each item: 0, 100, 200 (< 250) come; 300 does not
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full)).items.map((i) => i.id), ['a', 'b', 'c']);
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'c' } })).items.map((i) => i.id), ['d', 'big']);
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'd' } })).items.map((i) => i.id), ['big']);
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { page: { after: 'big' } })).items.map((i) => i.id), ['z']);
      // max_items too: the newest that fit
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { maxItems: 10 })).items.map((i) => i.id), ['z', 'big']);
      assert.deepEqual(value(await engine.getItems(a.bare, 'n', a.full, { maxItems: 1 })).items.map((i) => i.id), ['z']);
    });
  });
}

describe('owner usage backfill (migration 0006)', () => {
  test('recounts what the storage kept incrementally', async () => {
    const temp = await createTempDatabase('dbroker_usage');
    const handle = await createDatabase({ url: temp.url, poolMax: 2 });
    try {
      await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
      const storage = createPgPubsubStorage(handle.raw);
      const engine = createPubsubEngine({ storage });
      const owners = [account(), account()];
      for (const [k, a] of owners.entries()) {
        for (let i = 0; i < 5; i++) value(await engine.publish(a.bare, `n${i}`, a.full, `i${i}`, payloadOf(40 + i * k, true), { requestId: rid(), publishOptions: { max_items: 3 } }));
        value(await engine.publish(a.bare, 'n0', a.full, 'again', payloadOf(77), { requestId: rid() }));
        value(await engine.deleteNode(a.bare, 'n1', a.full, { requestId: rid() }));
      }
      const kept = await handle.raw.query<{ service: string; nodes: number; bytes: string | number }>({ text: 'select service, nodes, bytes from pubsub_owner_usage order by service' });
      const backfill = readFileSync(join(MIGRATIONS_DIR, '0006_pubsub_owner_usage.sql'), 'utf8').split('--> statement-breakpoint')[1]!;
      await handle.raw.query({ text: 'delete from pubsub_owner_usage' });
      await handle.raw.query({ text: backfill });
      const rebuilt = await handle.raw.query<{ service: string; nodes: number; bytes: string | number }>({ text: 'select service, nodes, bytes from pubsub_owner_usage order by service' });
      assert.equal(kept.length, 2);
      assert.deepEqual(rebuilt.map((r) => [r.service, Number(r.nodes), Number(r.bytes)]), kept.map((r) => [r.service, Number(r.nodes), Number(r.bytes)]));
      // rows of an older version under other spellings count as migration 0008 leaves them: one account, the oldest node of a name
      const raw = async (text: string, values: unknown[] = []) => await handle.raw.query<{ id: number }>({ text, values });
      const [older] = await raw(`insert into pubsub_nodes (service, node, config, created_at) values ('Dup@Example.ORG.', 'n', '{}', now() - interval '1 day') returning id`);
      const [newer] = await raw(`insert into pubsub_nodes (service, node, config) values ('dup@example.org', 'n', '{}') returning id`);
      await raw(`insert into pubsub_nodes (service, node, config) values ('DUP@example.org', 'other', '{}')`);
      await raw(`insert into pubsub_items (node_id, item_id, payload, published_seq, published_at) values ($1, 'a', 'xxxx', 1, now()), ($2, 'b', 'yyyyyyyy', 2, now())`, [older!.id, newer!.id]);
      await handle.raw.query({ text: 'delete from pubsub_owner_usage' });
      await handle.raw.query({ text: backfill });
      const dup = await handle.raw.query<{ nodes: number; bytes: string | number }>({ text: `select nodes, bytes from pubsub_owner_usage where service = 'dup@example.org'` });
      assert.deepEqual(dup.map((r) => [Number(r.nodes), Number(r.bytes)]), [[2, 4]]);
    } finally {
      await handle.close();
      await temp.drop();
    }
  });
});
