import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createMemoryRosterLookup, createRosterAccessPolicy, type AccessPolicy } from './access';
import { DEFAULT_NODE_CONFIG, type NodeConfig } from './config';
import { createPubsubEngine, type PubsubEngine, type PubsubResult } from './engine';
import { DuplicateRequestError, type PubsubStorage } from './storage';
import { BACKENDS, createStorageFixture, type StorageFixture } from './test-fixtures';

const rid = () => randomUUID();
let counter = 0;
/** A fresh account per test: the backends are shared by the tests of a suite. */
const account = () => {
  const bare = `user${++counter}-${randomUUID().slice(0, 8)}@example.org`;
  return { bare, full: `${bare}/phone`, other: `${bare}/laptop` };
};
const stranger = 'stranger@example.net/pc';
const payload = (text: string) => `<mood xmlns='http://jabber.org/protocol/mood'><happy/><text>${text}</text></mood>`;

function value<T>(r: PubsubResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error}${r.text ? ` (${r.text})` : ''}`);
  return r.value;
}

function errorOf<T>(r: PubsubResult<T>): string {
  assert.equal(r.ok, false, 'expected an error');
  return r.ok ? '' : r.error;
}

for (const backend of BACKENDS) {
  describe(`engine on ${backend} storage`, () => {
    let fx: StorageFixture;
    let engine: PubsubEngine;
    before(async () => {
      fx = await createStorageFixture(backend);
      engine = createPubsubEngine({ storage: fx.storage });
    });
    after(async () => {
      await fx.close();
    });

    describe('publish', () => {
      test('with an item id: auto-creates the node with the default config and stores the item', async () => {
        const a = account();
        const out = value(await engine.publish(a.bare, 'urn:xmpp:mood', a.full, 'current', payload('one'), { requestId: rid() }));
        assert.equal(out.itemId, 'current');
        assert.equal(out.createdNode, true);
        assert.equal(out.replayed, false);
        assert.deepEqual(
          out.effects.map((e) => e.type),
          ['node-created', 'published'],
        );
        const published = out.effects[1];
        assert.ok(published?.type === 'published');
        assert.equal(published.seq, out.seq);
        assert.equal(published.payload, payload('one'));
        assert.equal(published.publisher, a.full);
        assert.deepEqual(published.config, DEFAULT_NODE_CONFIG);

        const node = await fx.storage.getNode(a.bare, 'urn:xmpp:mood');
        assert.deepEqual(node?.config, DEFAULT_NODE_CONFIG);
        const items = value(await engine.getItems(a.bare, 'urn:xmpp:mood', a.full)).items;
        assert.deepEqual(
          items.map((i) => [i.id, i.payload, i.publisher]),
          [['current', payload('one'), a.full]],
        );
      });

      test('without an item id: the service generates a distinct id each time', async () => {
        const a = account();
        const opts = { publishOptions: { max_items: 10 } };
        const one = value(await engine.publish(a.bare, 'n', a.full, undefined, payload('1'), { requestId: rid(), ...opts }));
        const two = value(await engine.publish(a.bare, 'n', a.full, undefined, payload('2'), { requestId: rid(), ...opts }));
        assert.match(one.itemId, /^[0-9a-f-]{36}$/);
        assert.notEqual(one.itemId, two.itemId);
        assert.equal(two.createdNode, false);
        const items = value(await engine.getItems(a.bare, 'n', a.full)).items;
        assert.deepEqual(
          items.map((i) => i.id),
          [one.itemId, two.itemId],
        );
      });

      test('publish-options become the config of a node the publish creates', async () => {
        const a = account();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('1'), { requestId: rid(), publishOptions: { access_model: 'open', max_items: 'max' } }));
        const node = await fx.storage.getNode(a.bare, 'n');
        assert.deepEqual(node?.config, { ...DEFAULT_NODE_CONFIG, access_model: 'open', max_items: 'max' } satisfies NodeConfig);
      });

      test('publish-options on an existing node are preconditions (XEP-0060 §7.1.5)', async () => {
        const a = account();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('1'), { requestId: rid() }));
        const r = await engine.publish(a.bare, 'n', a.full, 'y', payload('2'), { requestId: rid(), publishOptions: { access_model: 'open' } });
        assert.equal(errorOf(r), 'precondition-not-met');
        const ok = await engine.publish(a.bare, 'n', a.full, 'y', payload('2'), { requestId: rid(), publishOptions: { access_model: 'presence', max_items: 1 } });
        assert.equal(value(ok).itemId, 'y');
        // the refused publish left no trace
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 2);
      });

      test('max_items (default 1) trims the oldest items; the log keeps every publish', async () => {
        const a = account();
        value(await engine.publish(a.bare, 'single', a.full, 'a', payload('a'), { requestId: rid() }));
        value(await engine.publish(a.bare, 'single', a.full, 'b', payload('b'), { requestId: rid() }));
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'single', a.full)).items.map((i) => i.id),
          ['b'],
        );

        for (const id of ['1', '2', '3', '4', '5']) {
          value(await engine.publish(a.bare, 'three', a.full, id, payload(id), { requestId: rid(), publishOptions: { max_items: 3 } }));
        }
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'three', a.full)).items.map((i) => i.id),
          ['3', '4', '5'],
        );
        const log = await fx.eventsOf(a.bare, 'three');
        assert.deepEqual(
          log.map((e) => [e.kind, e.itemId]),
          ['1', '2', '3', '4', '5'].map((id) => ['publish', id]),
        );
        assert.ok(log.every((e, i) => i === 0 || e.seq > (log[i - 1]?.seq ?? 0)), 'seq increases');
      });

      test('re-publishing an item id replaces it and makes it the newest', async () => {
        const a = account();
        const opts = { publishOptions: { max_items: 2 } };
        value(await engine.publish(a.bare, 'n', a.full, 'a', payload('a1'), { requestId: rid(), ...opts }));
        value(await engine.publish(a.bare, 'n', a.full, 'b', payload('b'), { requestId: rid(), ...opts }));
        value(await engine.publish(a.bare, 'n', a.full, 'a', payload('a2'), { requestId: rid(), ...opts }));
        const items = value(await engine.getItems(a.bare, 'n', a.full)).items;
        assert.deepEqual(
          items.map((i) => [i.id, i.payload]),
          [
            ['b', payload('b')],
            ['a', payload('a2')],
          ],
        );
        // the next publish trims 'b', now the oldest
        value(await engine.publish(a.bare, 'n', a.full, 'c', payload('c'), { requestId: rid(), ...opts }));
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'n', a.full)).items.map((i) => i.id),
          ['a', 'c'],
        );
      });

      test('persist_items=false: the publish is logged without payload and no item is kept', async () => {
        const a = account();
        const out = value(await engine.publish(a.bare, 'transient', a.full, 'x', payload('1'), { requestId: rid(), publishOptions: { persist_items: false } }));
        assert.equal(out.effects.find((e) => e.type === 'published')?.type, 'published');
        assert.deepEqual(value(await engine.getItems(a.bare, 'transient', a.full)).items, []);
        const log = await fx.eventsOf(a.bare, 'transient');
        assert.deepEqual(
          log.map((e) => [e.kind, e.itemId, e.payload]),
          [['publish', 'x', null]],
        );
      });

      test("publishing to someone else's node is forbidden and creates nothing", async () => {
        const a = account();
        assert.equal(errorOf(await engine.publish(a.bare, 'n', stranger, 'x', payload('1'), { requestId: rid() })), 'forbidden');
        assert.equal(await fx.storage.getNode(a.bare, 'n'), undefined);
        // another resource of the owner is the owner
        value(await engine.publish(a.bare, 'n', a.other, 'x', payload('1'), { requestId: rid() }));
      });

      test('rejects bad input with short error names', async () => {
        const a = account();
        const pub = (node: string, id: string | undefined, xml: string, publishOptions?: Partial<NodeConfig>) =>
          engine.publish(a.bare, node, a.full, id, xml, { requestId: rid(), publishOptions });
        assert.equal(errorOf(await pub('', 'x', payload('1'))), 'bad-request');
        assert.equal(errorOf(await pub('n', '', payload('1'))), 'item-required');
        assert.equal(errorOf(await pub('n', 'x'.repeat(2000), payload('1'))), 'invalid-item');
        assert.equal(errorOf(await pub('n'.repeat(2000), 'x', payload('1'))), 'not-acceptable');
        assert.equal(errorOf(await pub('n', 'x', '')), 'payload-required');
        assert.equal(errorOf(await pub('n', 'x', payload('y'.repeat(300 * 1024)))), 'payload-too-big');
        assert.equal(errorOf(await pub('n', 'x', payload('1'), { max_items: 0 })), 'bad-request');
        assert.equal(errorOf(await pub('n', 'x', payload('1'), { max_items: 100_000 })), 'precondition-not-met');
        assert.equal(await fx.storage.getNode(a.bare, 'n'), undefined);
      });

      test('the payload limit is configurable', async () => {
        const a = account();
        const small = createPubsubEngine({ storage: fx.storage, maxPayloadBytes: 100 });
        assert.equal(errorOf(await small.publish(a.bare, 'n', a.full, 'x', payload('é'.repeat(40)), { requestId: rid() })), 'payload-too-big');
        value(await small.publish(a.bare, 'n', a.full, 'x', payload('ok'), { requestId: rid() }));
      });
    });

    describe('getItems', () => {
      let a: ReturnType<typeof account>;
      before(async () => {
        a = account();
        for (const id of ['i1', 'i2', 'i3', 'i4']) {
          value(await engine.publish(a.bare, 'blog', a.full, id, payload(id), { requestId: rid(), publishOptions: { max_items: 10 } }));
        }
      });

      test('all items in publication order (XEP-0060 §6.5.2)', async () => {
        const out = value(await engine.getItems(a.bare, 'blog', a.full));
        assert.deepEqual(
          out.items.map((i) => i.id),
          ['i1', 'i2', 'i3', 'i4'],
        );
        assert.ok(out.items.every((i) => i.publishedAt instanceof Date));
      });

      test('max_items: the N most recent, newest first (XEP-0060 §6.5.7)', async () => {
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'blog', a.full, { maxItems: 2 })).items.map((i) => i.id),
          ['i4', 'i3'],
        );
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'blog', a.full, { maxItems: 50 })).items.map((i) => i.id),
          ['i4', 'i3', 'i2', 'i1'],
        );
      });

      test('by id: those that exist, in the order asked (XEP-0060 §6.5.8)', async () => {
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'blog', a.full, { itemIds: ['i3', 'nope', 'i1'] })).items.map((i) => i.id),
          ['i3', 'i1'],
        );
        assert.deepEqual(value(await engine.getItems(a.bare, 'blog', a.full, { itemIds: ['nope'] })).items, []);
      });

      test('a missing node is node-not-found; bad arguments are refused', async () => {
        assert.equal(errorOf(await engine.getItems(a.bare, 'missing', a.full)), 'node-not-found');
        assert.equal(errorOf(await engine.getItems(a.bare, 'blog', a.full, { maxItems: 0 })), 'bad-request');
        assert.equal(errorOf(await engine.getItems(a.bare, 'blog', a.full, { itemIds: [''] })), 'item-required');
        assert.equal(errorOf(await engine.getItems(a.bare, '', a.full)), 'bad-request');
      });

      test('access: owner always, anyone on open nodes, others per access model', async () => {
        const b = account();
        const node = (access_model: NodeConfig['access_model']) => `node-${access_model}`;
        for (const model of ['open', 'presence', 'roster', 'whitelist'] as const) {
          value(await engine.publish(b.bare, node(model), b.full, 'x', payload(model), { requestId: rid(), publishOptions: { access_model: model } }));
        }
        assert.equal(value(await engine.getItems(b.bare, node('open'), stranger)).items.length, 1);
        assert.equal(errorOf(await engine.getItems(b.bare, node('presence'), stranger)), 'node-not-found');
        assert.equal(errorOf(await engine.getItems(b.bare, node('roster'), stranger)), 'node-not-found');
        assert.equal(errorOf(await engine.getItems(b.bare, node('whitelist'), stranger)), 'node-not-found');
        for (const model of ['presence', 'roster', 'whitelist'] as const) {
          assert.equal(value(await engine.getItems(b.bare, node(model), b.other)).items.length, 1, `owner reads ${model}`);
        }

        const asked: string[] = [];
        const rosters = createMemoryRosterLookup({ [b.bare]: [{ jid: 'friend@example.net', subscription: 'from', groups: [] }] });
        const friends: AccessPolicy = createRosterAccessPolicy({ getRoster: async (o) => (asked.push(o), await rosters.getRoster(o)) }, fx.storage);
        const withRoster = createPubsubEngine({ storage: fx.storage, access: friends });
        assert.equal(value(await withRoster.getItems(b.bare, node('presence'), 'friend@example.net/x')).items.length, 1);
        assert.equal(errorOf(await withRoster.getItems(b.bare, node('roster'), stranger)), 'node-not-found');
        assert.equal(value(await withRoster.getItems(b.bare, node('open'), stranger)).items.length, 1);
        // the roster is consulted only for presence / roster nodes
        assert.deepEqual(asked, [b.bare, b.bare]);
      });
    });

    describe('retract', () => {
      test('removes the item, logs the retraction, reports the effect (XEP-0060 §7.2)', async () => {
        const a = account();
        const opts = { publishOptions: { max_items: 5 } };
        value(await engine.publish(a.bare, 'n', a.full, 'a', payload('a'), { requestId: rid(), ...opts }));
        value(await engine.publish(a.bare, 'n', a.full, 'b', payload('b'), { requestId: rid(), ...opts }));
        const out = value(await engine.retract(a.bare, 'n', a.full, 'a', { requestId: rid() }));
        assert.equal(out.replayed, false);
        assert.deepEqual(
          out.effects.map((e) => (e.type === 'retracted' ? [e.type, e.itemId, e.notify, e.seq] : [e.type])),
          [['retracted', 'a', true, out.seq]],
        );
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'n', a.full)).items.map((i) => i.id),
          ['b'],
        );
        assert.deepEqual(
          (await fx.eventsOf(a.bare, 'n')).map((e) => [e.kind, e.itemId]),
          [
            ['publish', 'a'],
            ['publish', 'b'],
            ['retract', 'a'],
          ],
        );
        const quiet = value(await engine.retract(a.bare, 'n', a.full, 'b', { requestId: rid(), notify: false }));
        assert.equal(quiet.effects[0]?.type === 'retracted' && quiet.effects[0].notify, false);
      });

      test('unknown item → item-not-found; missing node → node-not-found; not the owner → forbidden', async () => {
        const a = account();
        value(await engine.publish(a.bare, 'n', a.full, 'a', payload('a'), { requestId: rid() }));
        assert.equal(errorOf(await engine.retract(a.bare, 'n', a.full, 'zzz', { requestId: rid() })), 'item-not-found');
        assert.equal(errorOf(await engine.retract(a.bare, 'other', a.full, 'a', { requestId: rid() })), 'node-not-found');
        assert.equal(errorOf(await engine.retract(a.bare, 'n', stranger, 'a', { requestId: rid() })), 'forbidden');
        assert.equal(errorOf(await engine.retract(a.bare, 'n', a.full, '', { requestId: rid() })), 'item-required');
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 1, 'refused retractions leave no trace');
        assert.equal(value(await engine.getItems(a.bare, 'n', a.full)).items.length, 1);
      });
    });

    describe('idempotency', () => {
      test('the same publish request twice: one event, the same reply', async () => {
        const a = account();
        const requestId = rid();
        const first = value(await engine.publish(a.bare, 'n', a.full, undefined, payload('1'), { requestId, publishOptions: { max_items: 5 } }));
        const again = value(await engine.publish(a.bare, 'n', a.full, undefined, payload('1'), { requestId, publishOptions: { max_items: 5 } }));
        assert.equal(again.replayed, true);
        assert.equal(again.itemId, first.itemId);
        assert.equal(again.seq, first.seq);
        assert.deepEqual(again.effects, first.effects.filter((e) => e.type === 'published'));
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 1);
        assert.equal(value(await engine.getItems(a.bare, 'n', a.full)).items.length, 1);
      });

      test('a replayed publish is not re-applied even after later changes', async () => {
        const a = account();
        const requestId = rid();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('old'), { requestId }));
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('new'), { requestId: rid() }));
        const again = value(await engine.publish(a.bare, 'n', a.full, 'x', payload('old'), { requestId }));
        assert.equal(again.replayed, true);
        assert.deepEqual(
          value(await engine.getItems(a.bare, 'n', a.full)).items.map((i) => i.payload),
          [payload('new')],
        );
      });

      test('a retried retraction succeeds again without a second event', async () => {
        const a = account();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('1'), { requestId: rid() }));
        const requestId = rid();
        const first = value(await engine.retract(a.bare, 'n', a.full, 'x', { requestId }));
        const again = value(await engine.retract(a.bare, 'n', a.full, 'x', { requestId }));
        assert.equal(again.replayed, true);
        assert.equal(again.seq, first.seq);
        assert.deepEqual(
          (await fx.eventsOf(a.bare, 'n')).map((e) => e.kind),
          ['publish', 'retract'],
        );
      });

      test('a duplicate request id surfaces on append: the first attempt does not look it up, the rerun returns the recorded outcome', async () => {
        const a = account();
        const requestId = rid();
        const first = value(await engine.publish(a.bare, 'n', a.full, undefined, payload('1'), { requestId }));
        let lookups = 0;
        const counting: PubsubStorage = {
          ...fx.storage,
          withTransaction: (fn) =>
            fx.storage.withTransaction((tx) =>
              fn({
                ...tx,
                findRequest: async (id) => {
                  lookups++;
                  return await tx.findRequest(id);
                },
              }),
            ),
        };
        const fresh = value(await createPubsubEngine({ storage: counting }).publish(a.bare, 'n', a.full, undefined, payload('2'), { requestId: rid() }));
        assert.equal(fresh.replayed, false);
        assert.equal(lookups, 0, 'no lookup on the hot path');
        const again = value(await createPubsubEngine({ storage: counting }).publish(a.bare, 'n', a.full, undefined, payload('1'), { requestId }));
        assert.equal(lookups, 1, 'one lookup, in the rerun');
        assert.equal(again.replayed, true);
        assert.equal(again.itemId, first.itemId);
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 2);
      });

      test('a request id reused for a different request is refused', async () => {
        const a = account();
        const requestId = rid();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('1'), { requestId }));
        assert.equal(errorOf(await engine.publish(a.bare, 'm', a.full, 'x', payload('1'), { requestId })), 'bad-request');
        assert.equal(errorOf(await engine.retract(a.bare, 'n', a.full, 'x', { requestId })), 'bad-request');
        assert.equal(value(await engine.getItems(a.bare, 'n', a.full)).items.length, 1);
      });
    });

    describe('concurrency', () => {
      test('10 concurrent publishes to one new node: 10 events, consistent items', async () => {
        const a = account();
        const ids = Array.from({ length: 10 }, (_, i) => `item${i}`);
        const results = await Promise.all(ids.map((id) => engine.publish(a.bare, 'hot', a.full, id, payload(id), { requestId: rid() })));
        const outs = results.map(value);
        assert.equal(outs.filter((o) => o.createdNode).length, 1, 'exactly one publish created the node');
        const log = await fx.eventsOf(a.bare, 'hot');
        assert.equal(log.length, 10);
        assert.equal(new Set(log.map((e) => e.seq)).size, 10);
        assert.deepEqual(new Set(log.map((e) => e.itemId)), new Set(ids));
        const items = value(await engine.getItems(a.bare, 'hot', a.full)).items;
        assert.equal(items.length, 1, 'max_items 1 holds exactly one item');
        const last = log[log.length - 1];
        assert.equal(items[0]?.id, last?.itemId, 'the current item is the last one published');
        assert.equal(items[0]?.seq, last?.seq);
      });

      test('10 concurrent publishes to a max node keep all 10, in log order', async () => {
        const a = account();
        const ids = Array.from({ length: 10 }, (_, i) => `item${i}`);
        await Promise.all(ids.map((id) => engine.publish(a.bare, 'many', a.full, id, payload(id), { requestId: rid(), publishOptions: { max_items: 'max' } }).then(value)));
        const log = await fx.eventsOf(a.bare, 'many');
        const items = value(await engine.getItems(a.bare, 'many', a.full)).items;
        assert.deepEqual(
          items.map((i) => i.id),
          log.map((e) => e.itemId),
        );
      });

      test('the same request retried concurrently is applied once', async () => {
        const a = account();
        const requestId = rid();
        const outs = (await Promise.all(Array.from({ length: 5 }, () => engine.publish(a.bare, 'dup', a.full, undefined, payload('1'), { requestId })))).map(value);
        assert.equal(new Set(outs.map((o) => o.itemId)).size, 1);
        assert.equal(outs.filter((o) => !o.replayed).length, 1);
        assert.equal((await fx.eventsOf(a.bare, 'dup')).length, 1);
      });
    });

    describe('storage transactions', () => {
      test('a throw rolls back every write of the transaction', async () => {
        const a = account();
        await assert.rejects(
          fx.storage.withTransaction(async (tx) => {
            const { node } = await tx.createNode(a.bare, 'n', DEFAULT_NODE_CONFIG, new Date());
            await tx.appendEvent({ nodeId: node.id, kind: 'publish', itemId: 'x', payload: 'p', publisher: a.full, requestId: rid(), at: new Date() });
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal(await fx.storage.getNode(a.bare, 'n'), undefined);
      });

      test('a request id already in the log makes appendEvent throw DuplicateRequestError', async () => {
        const a = account();
        const requestId = rid();
        const event = (nodeId: number) => ({ nodeId, kind: 'publish' as const, itemId: 'x', payload: 'p', publisher: a.full, requestId, at: new Date() });
        await fx.storage.withTransaction(async (tx) => {
          const { node } = await tx.createNode(a.bare, 'n', DEFAULT_NODE_CONFIG, new Date());
          await tx.appendEvent(event(node.id));
        });
        const node = await fx.storage.getNode(a.bare, 'n');
        assert.ok(node);
        await assert.rejects(
          fx.storage.withTransaction((tx) => tx.appendEvent(event(node.id))),
          (err) => err instanceof DuplicateRequestError && err.requestId === requestId,
        );
        // events without a request id are never duplicates
        await fx.storage.withTransaction(async (tx) => {
          await tx.appendEvent({ ...event(node.id), requestId: null });
          await tx.appendEvent({ ...event(node.id), requestId: null });
        });
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 3);
      });

      test('publishItem is appendEvent, upsertItem and trimItems in one step', async () => {
        const a = account();
        const at = (ms: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, 0, ms));
        const config: NodeConfig = { ...DEFAULT_NODE_CONFIG, max_items: 3 };
        const { published, trims } = await fx.storage.withTransaction(async (tx) => {
          const { node } = await tx.createNode(a.bare, 'n', config, at(0));
          const item = (itemId: string, ms: number) => ({ nodeId: node.id, itemId, payload: `<p>${itemId}${ms}</p>`, publisher: a.full, requestId: rid(), at: at(ms) });
          const published = [];
          const trims = [];
          for (const [id, ms, keep] of [['a', 1, 3], ['b', 2, 3], ['c', 3, 3], ['a', 4, 2], ['d', 5, 2]] as const) {
            const out = await tx.publishItem(item(id, ms), keep);
            published.push(out.event);
            trims.push(out.trimmed);
          }
          return { published, trims };
        });
        // re-publishing a moves it to the newest; keep 2 then drops b (the oldest other), then c
        assert.deepEqual(trims, [[], [], [], ['b'], ['c']]);
        for (const e of published) {
          assert.equal(typeof e.seq, 'number');
          assert.equal(e.kind, 'publish');
          assert.ok(e.at instanceof Date);
        }
        assert.deepEqual(
          published.map((e) => e.seq),
          [...published.map((e) => e.seq)].sort((x, y) => x - y),
        );
        const node = await fx.storage.getNode(a.bare, 'n');
        assert.ok(node);
        const items = await fx.storage.listItems(node.id);
        assert.deepEqual(
          items.map((i) => [i.itemId, i.payload, i.publisher, i.publishedSeq, i.publishedAt.getTime()]),
          [
            ['a', '<p>a4</p>', a.full, published[3]?.seq, at(4).getTime()],
            ['d', '<p>d5</p>', a.full, published[4]?.seq, at(5).getTime()],
          ],
        );
        const log = await fx.eventsOf(a.bare, 'n');
        assert.deepEqual(log, published);
      });

      test('publishItem with a recorded request id throws DuplicateRequestError and writes nothing', async () => {
        const a = account();
        const requestId = rid();
        const nodeId = await fx.storage.withTransaction(async (tx) => {
          const { node } = await tx.createNode(a.bare, 'n', { ...DEFAULT_NODE_CONFIG, max_items: 5 }, new Date());
          await tx.publishItem({ nodeId: node.id, itemId: 'x', payload: 'one', publisher: a.full, requestId, at: new Date() }, 5);
          return node.id;
        });
        await assert.rejects(
          fx.storage.withTransaction((tx) => tx.publishItem({ nodeId, itemId: 'y', payload: 'two', publisher: a.full, requestId, at: new Date() }, 1)),
          (err) => err instanceof DuplicateRequestError && err.requestId === requestId,
        );
        assert.deepEqual(
          (await fx.storage.listItems(nodeId)).map((i) => [i.itemId, i.payload]),
          [['x', 'one']],
        );
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 1);
      });

      test('getNodeItems is getNode then listItems, for every query form', async () => {
        const a = account();
        const config: NodeConfig = { ...DEFAULT_NODE_CONFIG, max_items: 10, access_model: 'open', notify_retract: false };
        await fx.storage.withTransaction(async (tx) => {
          const { node } = await tx.createNode(a.bare, 'n', config, new Date());
          for (const id of ['a', 'b', 'c', 'd']) await tx.publishItem({ nodeId: node.id, itemId: id, payload: id, publisher: null, requestId: rid(), at: new Date() }, 10);
          await tx.createNode(a.bare, 'empty', DEFAULT_NODE_CONFIG, new Date());
        });
        const queries = [undefined, {}, { newestFirst: true }, { newestFirst: true, limit: 2 }, { limit: 3 }, { itemIds: ['c', 'x', 'a', 'c'] }, { itemIds: ['d', 'b'], limit: 1 }, { itemIds: [] }];
        for (const name of ['n', 'empty']) {
          const node = await fx.storage.getNode(a.bare, name);
          assert.ok(node);
          assert.ok(node.createdAt instanceof Date);
          for (const q of queries) {
            assert.deepEqual(await fx.storage.getNodeItems(a.bare, name, q), { node, items: await fx.storage.listItems(node.id, q) }, `${name} ${JSON.stringify(q)}`);
          }
        }
        assert.deepEqual((await fx.storage.getNodeItems(a.bare, 'n', { itemIds: ['c', 'x', 'a', 'c'] }))?.items.map((i) => i.itemId), ['c', 'a']);
        assert.deepEqual((await fx.storage.getNodeItems(a.bare, 'n', { newestFirst: true, limit: 2 }))?.items.map((i) => i.itemId), ['d', 'c']);
        assert.deepEqual((await fx.storage.getNodeItems(a.bare, 'n'))?.node.config, config);
        assert.equal(await fx.storage.getNodeItems(a.bare, 'missing'), undefined);
        assert.equal(await fx.storage.getNodeItems(a.bare, 'missing', { itemIds: ['a'] }), undefined);
        assert.equal(await fx.storage.getNodeItems(a.bare, 'missing', { itemIds: [] }), undefined);
      });
    });
  });
}
