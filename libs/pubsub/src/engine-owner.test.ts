import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createMemoryRosterLookup, type MemoryRosterLookup } from './access';
import { buildConfig, DEFAULT_NODE_CONFIG } from './config';
import { createPubsubEngine, type PubsubEngine, type PubsubResult } from './engine';
import { BACKENDS, createStorageFixture, type StorageFixture } from './test-fixtures';

/** Owner use cases (XEP-0060 §8), subscriptions and affiliations (§5, §6), on every storage backend. */

const rid = () => randomUUID();
let counter = 0;
const account = () => {
  const bare = `owner${++counter}-${randomUUID().slice(0, 8)}@example.org`;
  return { bare, full: `${bare}/phone` };
};
const FRIEND = 'friend@example.net';
const STRANGER = 'stranger@example.net';
const payload = (text: string) => `<mood xmlns='http://jabber.org/protocol/mood'><text>${text}</text></mood>`;

function value<T>(r: PubsubResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error}${r.text ? ` (${r.text})` : ''}`);
  return r.value;
}

function errorOf<T>(r: PubsubResult<T>): string {
  assert.equal(r.ok, false, 'expected an error');
  return r.ok ? '' : r.error;
}

for (const backend of BACKENDS) {
  describe(`owner use cases on ${backend} storage`, () => {
    let fx: StorageFixture;
    let engine: PubsubEngine;
    let roster: MemoryRosterLookup;
    let subids = 0;
    before(async () => {
      fx = await createStorageFixture(backend);
      roster = createMemoryRosterLookup();
      engine = createPubsubEngine({ storage: fx.storage, roster, generateSubId: () => `sub-${++subids}` });
    });
    after(async () => {
      await fx.close();
    });

    const ids = async (owner: string, node: string) => value(await engine.getItems(owner, node, owner)).items.map((i) => i.id);
    const publishMany = async (owner: string, node: string, n: number) => {
      for (let i = 1; i <= n; i++) value(await engine.publish(owner, node, `${owner}/phone`, `i${i}`, payload(String(i)), { requestId: rid() }));
    };

    describe('create and configure (§8.1, §8.2, §8.3)', () => {
      test('create with a configuration; a second create is a conflict; only the owner creates', async () => {
        const a = account();
        const out = value(await engine.createNode(a.bare, 'n', a.full, { access_model: 'roster', roster_groups_allowed: ['Friends'], max_items: 5 }));
        assert.deepEqual(out.config, buildConfig({ access_model: 'roster', roster_groups_allowed: ['Friends'], max_items: 5 }));
        assert.deepEqual(out.effects, [{ type: 'node-created', service: a.bare, node: 'n', config: out.config }]);
        assert.deepEqual((await fx.storage.getNode(a.bare, 'n'))?.config, out.config);
        assert.equal(errorOf(await engine.createNode(a.bare, 'n', a.full)), 'conflict');
        assert.equal(errorOf(await engine.createNode(a.bare, 'other', `${STRANGER}/x`)), 'forbidden');
        assert.equal(await fx.storage.getNode(a.bare, 'other'), undefined);
        assert.equal(errorOf(await engine.createNode(a.bare, 'bad', a.full, { max_items: 0 })), 'bad-request');
      });

      test('get and set the configuration; defaults; forbidden to others; unknown node', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full));
        assert.deepEqual(value(await engine.getConfig(a.bare, 'n', a.full)), DEFAULT_NODE_CONFIG);
        assert.deepEqual(engine.defaultConfig(), DEFAULT_NODE_CONFIG);
        const out = value(await engine.configure(a.bare, 'n', a.full, { access_model: 'open', notify_config: true }));
        assert.equal(out.config.access_model, 'open');
        assert.equal(out.effects[0]?.type, 'config-changed');
        const changed = out.effects[0];
        assert.ok(changed?.type === 'config-changed');
        assert.equal(changed.previous.access_model, 'presence');
        assert.deepEqual(value(await engine.getConfig(a.bare, 'n', `${a.bare}/laptop`)), { ...DEFAULT_NODE_CONFIG, access_model: 'open', notify_config: true });
        assert.equal(errorOf(await engine.getConfig(a.bare, 'n', `${STRANGER}/x`)), 'forbidden');
        assert.equal(errorOf(await engine.configure(a.bare, 'n', `${STRANGER}/x`, { access_model: 'presence' })), 'forbidden');
        assert.equal(errorOf(await engine.getConfig(a.bare, 'missing', a.full)), 'node-not-found');
        assert.equal(errorOf(await engine.configure(a.bare, 'missing', a.full, {})), 'node-not-found');
        assert.equal(errorOf(await engine.configure(a.bare, 'n', a.full, { max_items: 100_000 })), 'precondition-not-met');
      });

      test('a smaller max_items trims the oldest items; persist_items off removes them all', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full, { max_items: 10 }));
        await publishMany(a.bare, 'n', 5);
        const out = value(await engine.configure(a.bare, 'n', a.full, { max_items: 2 }));
        assert.deepEqual(out.trimmed.sort(), ['i1', 'i2', 'i3']);
        assert.deepEqual(await ids(a.bare, 'n'), ['i4', 'i5']);
        const off = value(await engine.configure(a.bare, 'n', a.full, { persist_items: false }));
        assert.deepEqual(off.trimmed.sort(), ['i4', 'i5']);
        assert.deepEqual(await ids(a.bare, 'n'), []);
      });
    });

    describe('delete and purge (§8.4, §8.5)', () => {
      test('delete: logged, the node and its items, subscriptions and affiliations are gone, the name is free again', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full, { access_model: 'open', max_items: 5 }));
        await publishMany(a.bare, 'n', 2);
        const sub = value(await engine.subscribe(a.bare, 'n', `${FRIEND}/x`, FRIEND));
        value(await engine.setAffiliations(a.bare, 'n', a.full, [{ jid: 'member@example.net', affiliation: 'member' }]));
        const before = await fx.storage.getNode(a.bare, 'n');
        assert.ok(before);
        const requestId = rid();
        const out = value(await engine.deleteNode(a.bare, 'n', a.full, { requestId, redirect: 'xmpp:other@example.org?;node=n' }));
        assert.equal(out.replayed, false);
        assert.deepEqual(out.effects, [
          {
            type: 'node-deleted',
            service: a.bare,
            node: 'n',
            config: before.config,
            seq: out.seq,
            redirect: 'xmpp:other@example.org?;node=n',
            subscribers: [{ jid: FRIEND, subid: sub.subscription.subid }],
            at: (out.effects[0] as { at: Date }).at,
          },
        ]);
        assert.equal(await fx.storage.getNode(a.bare, 'n'), undefined);
        assert.deepEqual(await fx.storage.listNodes(a.bare), []);
        assert.deepEqual(await fx.storage.listSubscriptions(before.id), []);
        assert.deepEqual(await fx.storage.listAffiliations(before.id), []);
        assert.deepEqual(await fx.storage.listItems(before.id), []);
        assert.equal(errorOf(await engine.getItems(a.bare, 'n', a.full)), 'node-not-found');
        // the log of the deleted node ends with the delete
        const log = await fx.eventsOfNode(before.id);
        assert.deepEqual(
          log.map((e) => [e.kind, e.requestId]),
          [
            ['publish', log[0]?.requestId],
            ['publish', log[1]?.requestId],
            ['delete', requestId],
          ],
        );
        // a retry of the same request succeeds again, nothing more is logged
        const replay = value(await engine.deleteNode(a.bare, 'n', a.full, { requestId }));
        assert.deepEqual([replay.replayed, replay.seq, replay.effects], [true, out.seq, []]);
        assert.equal(errorOf(await engine.deleteNode(a.bare, 'n', a.full, { requestId: rid() })), 'node-not-found');
        // the name is free: a new node, empty, with its own history
        const again = value(await engine.publish(a.bare, 'n', a.full, 'fresh', payload('new'), { requestId: rid() }));
        assert.equal(again.createdNode, true);
        assert.deepEqual(await ids(a.bare, 'n'), ['fresh']);
        const reborn = await fx.storage.getNode(a.bare, 'n');
        assert.notEqual(reborn?.id, before.id);
        assert.deepEqual(reborn?.config, DEFAULT_NODE_CONFIG);
        assert.equal(errorOf(await engine.deleteNode(a.bare, 'n', `${STRANGER}/x`, { requestId: rid() })), 'forbidden');
      });

      test('purge: items gone, logged, idempotent; forbidden to others', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full, { max_items: 5 }));
        await publishMany(a.bare, 'n', 3);
        const requestId = rid();
        const out = value(await engine.purge(a.bare, 'n', a.full, { requestId }));
        assert.equal(out.effects[0]?.type, 'purged');
        assert.deepEqual(await ids(a.bare, 'n'), []);
        assert.deepEqual(
          (await fx.eventsOf(a.bare, 'n')).map((e) => e.kind),
          ['publish', 'publish', 'publish', 'purge'],
        );
        const replay = value(await engine.purge(a.bare, 'n', a.full, { requestId }));
        assert.deepEqual([replay.replayed, replay.seq, replay.effects[0]?.type], [true, out.seq, 'purged']);
        assert.equal((await fx.eventsOf(a.bare, 'n')).length, 4);
        assert.equal(errorOf(await engine.purge(a.bare, 'n', `${STRANGER}/x`, { requestId: rid() })), 'forbidden');
        assert.equal(errorOf(await engine.purge(a.bare, 'missing', a.full, { requestId: rid() })), 'node-not-found');
        // a request id of another request is refused
        const pub = rid();
        value(await engine.publish(a.bare, 'n', a.full, 'x', payload('x'), { requestId: pub }));
        assert.equal(errorOf(await engine.purge(a.bare, 'n', a.full, { requestId: pub })), 'bad-request');
      });
    });

    describe('affiliations (§8.9, §5.7)', () => {
      test('whitelist members read; outcasts are refused everything and lose their subscriptions; the owner cannot change their own', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'w', a.full, { access_model: 'whitelist' }));
        value(await engine.createNode(a.bare, 'o', a.full, { access_model: 'open' }));
        value(await engine.publish(a.bare, 'w', a.full, 'x', payload('w'), { requestId: rid() }));
        assert.equal(errorOf(await engine.getItems(a.bare, 'w', `${FRIEND}/x`)), 'node-not-found');
        value(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: `${FRIEND}/ignored-resource`, affiliation: 'member' }]));
        assert.equal(value(await engine.getItems(a.bare, 'w', `${FRIEND}/x`)).items.length, 1);
        assert.deepEqual(value(await engine.getAffiliations(a.bare, 'w', a.full)), [
          { jid: a.bare, affiliation: 'owner' },
          { jid: FRIEND, affiliation: 'member' },
        ]);
        assert.deepEqual(value(await engine.affiliationsOf(a.bare, `${FRIEND}/x`)), [{ node: 'w', affiliation: 'member' }]);
        assert.deepEqual(value(await engine.affiliationsOf(a.bare, a.full)), [
          { node: 'o', affiliation: 'owner' },
          { node: 'w', affiliation: 'owner' },
        ]);
        assert.deepEqual(value(await engine.affiliationsOf(a.bare, a.full, 'w')), [{ node: 'w', affiliation: 'owner' }]);

        // outcast on an open node: no read, no subscription, existing ones end
        value(await engine.subscribe(a.bare, 'o', `${STRANGER}/pc`, `${STRANGER}/pc`));
        value(await engine.subscribe(a.bare, 'o', `${STRANGER}/pc`, STRANGER));
        const out = value(await engine.setAffiliations(a.bare, 'o', a.full, [{ jid: STRANGER, affiliation: 'outcast' }]));
        const changed = out.effects[0];
        assert.ok(changed?.type === 'affiliations-changed');
        assert.deepEqual(
          changed.removedSubscriptions.map((s) => s.jid),
          [STRANGER, `${STRANGER}/pc`],
        );
        assert.equal(errorOf(await engine.getItems(a.bare, 'o', `${STRANGER}/pc`)), 'node-not-found');
        assert.equal(errorOf(await engine.subscribe(a.bare, 'o', `${STRANGER}/pc`, STRANGER)), 'node-not-found');
        assert.deepEqual(value(await engine.subscriptionsOf(a.bare, `${STRANGER}/pc`)), []);

        // back to none
        value(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: FRIEND, affiliation: 'none' }]));
        assert.equal(errorOf(await engine.getItems(a.bare, 'w', `${FRIEND}/x`)), 'node-not-found');

        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: a.bare, affiliation: 'none' }])), 'not-acceptable');
        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: FRIEND, affiliation: 'owner' }])), 'not-acceptable');
        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: FRIEND, affiliation: 'pope' }])), 'not-acceptable');
        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'w', `${FRIEND}/x`, [{ jid: FRIEND, affiliation: 'member' }])), 'forbidden');
        assert.equal(errorOf(await engine.getAffiliations(a.bare, 'w', `${FRIEND}/x`)), 'forbidden');
        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'missing', a.full, [])), 'node-not-found');
        // all or nothing
        assert.equal(errorOf(await engine.setAffiliations(a.bare, 'w', a.full, [{ jid: FRIEND, affiliation: 'member' }, { jid: a.bare, affiliation: 'member' }])), 'not-acceptable');
        assert.equal(errorOf(await engine.getItems(a.bare, 'w', `${FRIEND}/x`)), 'node-not-found');
      });

      test('publisher affiliates publish and retract on an existing node, but create nothing', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full, { max_items: 5 }));
        assert.equal(errorOf(await engine.publish(a.bare, 'n', `${FRIEND}/x`, 'f', payload('f'), { requestId: rid() })), 'forbidden');
        value(await engine.setAffiliations(a.bare, 'n', a.full, [{ jid: FRIEND, affiliation: 'publisher' }]));
        const out = value(await engine.publish(a.bare, 'n', `${FRIEND}/x`, 'f', payload('f'), { requestId: rid() }));
        assert.equal(out.createdNode, false);
        assert.equal(value(await engine.getItems(a.bare, 'n', a.full)).items[0]?.publisher, `${FRIEND}/x`);
        value(await engine.retract(a.bare, 'n', `${FRIEND}/x`, 'f', { requestId: rid() }));
        assert.equal(errorOf(await engine.publish(a.bare, 'new-node', `${FRIEND}/x`, 'f', payload('f'), { requestId: rid() })), 'forbidden');
        assert.equal(await fx.storage.getNode(a.bare, 'new-node'), undefined);
      });
    });

    describe('subscriptions (§6.1, §6.2, §5.6, §8.8)', () => {
      test('subscribe needs the requester’s own JID and read access; re-subscribing keeps the subscription', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'p', a.full));
        value(await engine.publish(a.bare, 'p', a.full, 'last', payload('last'), { requestId: rid() }));
        assert.equal(errorOf(await engine.subscribe(a.bare, 'p', `${FRIEND}/x`, 'someone@else.org')), 'invalid-jid');
        assert.equal(errorOf(await engine.subscribe(a.bare, 'p', `${FRIEND}/x`, FRIEND)), 'node-not-found');
        assert.equal(errorOf(await engine.subscribe(a.bare, 'missing', `${FRIEND}/x`, FRIEND)), 'node-not-found');
        roster.set(a.bare, [{ jid: FRIEND, subscription: 'both', groups: [] }]);
        const sub = value(await engine.subscribe(a.bare, 'p', `${FRIEND}/x`, `${FRIEND}/x`));
        assert.equal(sub.created, true);
        assert.deepEqual(sub.subscription, { node: 'p', jid: `${FRIEND}/x`, subid: sub.subscription.subid, state: 'subscribed' });
        const effect = sub.effects[0];
        assert.ok(effect?.type === 'subscribed');
        assert.equal(effect.lastItem?.id, 'last');
        const again = value(await engine.subscribe(a.bare, 'p', `${FRIEND}/x`, `${FRIEND}/x`));
        assert.deepEqual([again.created, again.subscription.subid], [false, sub.subscription.subid]);
        value(await engine.subscribe(a.bare, 'p', `${FRIEND}/y`, FRIEND));
        assert.deepEqual(
          value(await engine.subscriptionsOf(a.bare, `${FRIEND}/z`)).map((s) => s.jid),
          [FRIEND, `${FRIEND}/x`],
        );
        assert.deepEqual(value(await engine.subscriptionsOf(a.bare, `${FRIEND}/z`, 'p')).length, 2);
        assert.equal(errorOf(await engine.subscriptionsOf(a.bare, `${FRIEND}/z`, 'missing')), 'node-not-found');
        assert.deepEqual(value(await engine.subscriptionsOf(a.bare, `${STRANGER}/z`)), []);

        // unsubscribe (§6.2)
        assert.equal(errorOf(await engine.unsubscribe(a.bare, 'p', `${FRIEND}/x`, `${FRIEND}/x`, 'wrong')), 'invalid-subid');
        assert.equal(errorOf(await engine.unsubscribe(a.bare, 'p', `${FRIEND}/x`, `${STRANGER}/x`)), 'invalid-jid');
        const gone = value(await engine.unsubscribe(a.bare, 'p', `${FRIEND}/x`, `${FRIEND}/x`, sub.subscription.subid));
        assert.equal(gone.effects[0]?.type, 'unsubscribed');
        assert.equal(errorOf(await engine.unsubscribe(a.bare, 'p', `${FRIEND}/x`, `${FRIEND}/x`)), 'not-subscribed');
        value(await engine.unsubscribe(a.bare, 'p', `${FRIEND}/x`, FRIEND));
        assert.deepEqual(value(await engine.subscriptionsOf(a.bare, FRIEND)), []);
      });

      test('send_last_published_item never: no last item on subscribe', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'q', a.full, { access_model: 'open', send_last_published_item: 'never' }));
        value(await engine.publish(a.bare, 'q', a.full, 'x', payload('x'), { requestId: rid() }));
        const effect = value(await engine.subscribe(a.bare, 'q', `${STRANGER}/x`, STRANGER)).effects[0];
        assert.ok(effect?.type === 'subscribed');
        assert.equal(effect.lastItem, undefined);
      });

      test('the owner manages subscriptions', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'm', a.full, { access_model: 'whitelist' }));
        const out = value(
          await engine.setSubscriptions(a.bare, 'm', a.full, [
            { jid: FRIEND, subscription: 'subscribed' },
            { jid: `${STRANGER}/pc`, subscription: 'subscribed' },
          ]),
        );
        assert.deepEqual(
          out.effects.map((e) => e.type),
          ['subscribed', 'subscribed'],
        );
        assert.deepEqual(
          value(await engine.getSubscriptions(a.bare, 'm', a.full)).map((s) => s.jid),
          [FRIEND, `${STRANGER}/pc`],
        );
        value(await engine.setSubscriptions(a.bare, 'm', a.full, [{ jid: FRIEND, subscription: 'none' }]));
        assert.deepEqual(
          value(await engine.getSubscriptions(a.bare, 'm', a.full)).map((s) => s.jid),
          [`${STRANGER}/pc`],
        );
        assert.equal(errorOf(await engine.getSubscriptions(a.bare, 'm', `${FRIEND}/x`)), 'forbidden');
        assert.equal(errorOf(await engine.setSubscriptions(a.bare, 'm', `${FRIEND}/x`, [])), 'forbidden');
        assert.equal(errorOf(await engine.getSubscriptions(a.bare, 'missing', a.full)), 'node-not-found');
      });
    });

    describe('concurrency', () => {
      test('publishes racing a delete: each lands on the old node (and is deleted) or on a new one', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'n', a.full, { max_items: 'max' }));
        const old = await fx.storage.getNode(a.bare, 'n');
        assert.ok(old);
        const pubs = Array.from({ length: 8 }, (_, i) => engine.publish(a.bare, 'n', a.full, `p${i}`, payload(String(i)), { requestId: rid(), publishOptions: { max_items: 'max' } }));
        const del = engine.deleteNode(a.bare, 'n', a.full, { requestId: rid() });
        const results = await Promise.all([...pubs, del]);
        for (const r of results) value(r);
        const oldLog = await fx.eventsOfNode(old.id);
        assert.equal(oldLog.at(-1)?.kind, 'delete');
        const beforeDelete = oldLog.filter((e) => e.kind === 'publish').map((e) => e.itemId);
        const now = await fx.storage.getNode(a.bare, 'n');
        const after = now ? await ids(a.bare, 'n') : [];
        assert.deepEqual([...beforeDelete, ...after].sort(), Array.from({ length: 8 }, (_, i) => `p${i}`).sort());
        if (now) assert.notEqual(now.id, old.id);
      });

      test('a subscription racing an outcast affiliation never survives it', async () => {
        const a = account();
        value(await engine.createNode(a.bare, 'o', a.full, { access_model: 'open' }));
        const outcome = await Promise.all([
          engine.subscribe(a.bare, 'o', `${STRANGER}/x`, STRANGER),
          engine.setAffiliations(a.bare, 'o', a.full, [{ jid: STRANGER, affiliation: 'outcast' }]),
          engine.subscribe(a.bare, 'o', `${STRANGER}/y`, `${STRANGER}/y`),
        ]);
        value(outcome[1]);
        assert.deepEqual(value(await engine.subscriptionsOf(a.bare, STRANGER)), []);
      });
    });

    describe('readable nodes (disco)', () => {
      test('the nodes a requester may read; a hidden node looks like a missing one', async () => {
        const a = account();
        for (const [n, model] of [
          ['b-presence', 'presence'],
          ['a-open', 'open'],
          ['c-roster', 'roster'],
          ['d-whitelist', 'whitelist'],
        ] as const) {
          value(await engine.createNode(a.bare, n, a.full, { access_model: model, roster_groups_allowed: ['Friends'] }));
        }
        roster.set(a.bare, [{ jid: FRIEND, subscription: 'from', groups: ['Friends'] }]);
        const names = async (actor: string) => (await engine.readableNodes(a.bare, actor)).map((n) => n.node);
        assert.deepEqual(await names(a.full), ['a-open', 'b-presence', 'c-roster', 'd-whitelist']);
        assert.deepEqual(await names(`${FRIEND}/x`), ['a-open', 'b-presence', 'c-roster']);
        assert.deepEqual(await names(`${STRANGER}/x`), ['a-open']);
        assert.equal(value(await engine.readableNode(a.bare, 'b-presence', `${FRIEND}/x`)).node, 'b-presence');
        assert.equal(errorOf(await engine.readableNode(a.bare, 'b-presence', `${STRANGER}/x`)), 'node-not-found');
        assert.equal(errorOf(await engine.readableNode(a.bare, 'nope', `${STRANGER}/x`)), 'node-not-found');
      });
    });
  });
}
