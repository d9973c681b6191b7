import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createMemoryRosterLookup } from './access';
import { createPubsubEngine, type PubsubEngine, type PubsubResult } from './engine';
import { BACKENDS, createStorageFixture, type StorageFixture } from './test-fixtures';

/**
 * One normalised form for every stored and compared JID (the protocol lib's `accountJid` /
 * `normalizeJid`): a case variant of an address is the same account everywhere, on every backend.
 */

const payload = `<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>`;
const rid = () => randomUUID();
const errorOf = <T>(r: PubsubResult<T>) => (r.ok ? 'ok' : r.error);
function value<T>(r: PubsubResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error}${r.text ? ` (${r.text})` : ''}`);
  return r.value;
}

for (const backend of BACKENDS) {
  describe(`JID case folding on ${backend} storage`, () => {
    let fx: StorageFixture;
    let engine: PubsubEngine;
    const roster = createMemoryRosterLookup();
    before(async () => {
      fx = await createStorageFixture(backend);
      engine = createPubsubEngine({ storage: fx.storage, roster });
    });
    after(async () => {
      await fx.close();
    });
    let n = 0;
    const owner = () => `owner${++n}-${randomUUID().slice(0, 6)}@example.org`;

    test('an outcast entry for mallory@ refuses Mallory@Example.org and MALLORY@example.ORG/res on every path', async () => {
      const alice = owner();
      value(await engine.publish(alice, 'open', `${alice}/a`, 'i1', payload, { requestId: rid() }));
      value(await engine.setAffiliations(alice, 'open', alice, [{ jid: 'mallory@example.org', affiliation: 'outcast' }]));
      for (const actor of ['Mallory@Example.org', 'MALLORY@example.ORG/res', 'mallory@EXAMPLE.org.']) {
        assert.equal(errorOf(await engine.getItems(alice, 'open', actor)), 'node-not-found', `items as ${actor}`);
        assert.equal(errorOf(await engine.subscribe(alice, 'open', actor, actor)), 'node-not-found', `subscribe as ${actor}`);
        assert.equal(errorOf(await engine.readableNode(alice, 'open', actor)), 'node-not-found', `disco as ${actor}`);
      }
      // and the other way round: an outcast written in capitals bans the lower-case account
      const bob = owner();
      value(await engine.publish(bob, 'open', bob, 'i1', payload, { requestId: rid() }));
      value(await engine.setAffiliations(bob, 'open', bob, [{ jid: 'EVE@Example.ORG/ignored-resource', affiliation: 'outcast' }]));
      assert.deepEqual(value(await engine.getAffiliations(bob, 'open', bob)).map((a) => `${a.jid} ${a.affiliation}`), [`${bob} owner`, 'eve@example.org outcast']);
      assert.equal(errorOf(await engine.getItems(bob, 'open', 'eve@example.org/x')), 'node-not-found');
    });

    test('a whitelist entry Bob@Example.org admits bob@example.org; a second spelling is the same entry', async () => {
      const alice = owner();
      value(await engine.createNode(alice, 'wl', alice, { access_model: 'whitelist' }));
      assert.equal(errorOf(await engine.getItems(alice, 'wl', 'bob@example.org/pc')), 'node-not-found');
      value(await engine.setAffiliations(alice, 'wl', alice, [{ jid: 'Bob@Example.org', affiliation: 'member' }]));
      value(await engine.getItems(alice, 'wl', 'bob@example.org/pc'));
      value(await engine.setAffiliations(alice, 'wl', alice, [{ jid: 'bob@example.org', affiliation: 'publisher' }]));
      assert.deepEqual(value(await engine.getAffiliations(alice, 'wl', alice)).slice(1), [{ jid: 'bob@example.org', affiliation: 'publisher' }]);
      // the publisher affiliation admits the lower-case account to publish
      value(await engine.publish(alice, 'wl', 'BOB@example.org/pc', 'from-bob', payload, { requestId: rid() }));
      assert.deepEqual(value(await engine.affiliationsOf(alice, 'bob@EXAMPLE.org/pc')), [{ node: 'wl', affiliation: 'publisher' }]);
      assert.equal(errorOf(await engine.setAffiliations(alice, 'wl', alice, [{ jid: alice.toUpperCase(), affiliation: 'outcast' }])), 'not-acceptable', 'the owner in capitals is still the owner');
      assert.equal(errorOf(await engine.setAffiliations(alice, 'wl', alice, [{ jid: 'not a jid', affiliation: 'member' }])), 'bad-request');
    });

    test('the owner in another case is the owner; subscriptions are stored folded and found by any spelling', async () => {
      const alice = owner();
      value(await engine.createNode(alice, 'n', alice, { access_model: 'open' }));
      value(await engine.publish(alice, 'n', `${alice}/a`, 'i1', payload, { requestId: rid() }));
      const shouting = alice.toUpperCase();
      value(await engine.publish(shouting, 'n', `${shouting}/b`, 'i2', payload, { requestId: rid() }));
      assert.deepEqual(value(await engine.getItems(alice, 'n', alice)).items.map((i) => i.id), ['i2'], 'one node (max_items 1): the second publish replaced the first');
      assert.deepEqual((await engine.readableNodes(shouting, alice)).map((x) => x.node), ['n']);
      assert.deepEqual((await fx.eventsOf(alice, 'n')).map((e) => e.publisher), [`${alice}/a`, `${alice}/b`], 'publishers stored folded, resource kept');
      assert.deepEqual(value(await engine.getItems(alice, 'n', alice)).items.map((i) => i.publisher), [`${alice}/b`]);
      const sub = value(await engine.subscribe(alice, 'n', 'Carol@Example.org/Phone', 'CAROL@example.org/Phone'));
      assert.equal(sub.subscription.jid, 'carol@example.org/Phone', 'local and domain folded, resource kept');
      assert.equal(errorOf(await engine.subscribe(alice, 'n', 'carol@example.org/Phone', 'carol@example.org/phone')), 'ok', 'another resource (case matters there) is another subscription');
      assert.deepEqual(value(await engine.subscriptionsOf(alice, 'CAROL@EXAMPLE.ORG')).map((s) => s.jid), ['carol@example.org/Phone', 'carol@example.org/phone']);
      value(await engine.unsubscribe(alice, 'n', 'carol@example.org/Phone', 'Carol@Example.ORG/Phone'));
      value(await engine.setAffiliations(alice, 'n', alice, [{ jid: 'CAROL@example.org', affiliation: 'outcast' }]));
      assert.deepEqual(value(await engine.getSubscriptions(alice, 'n', alice)), [], 'the outcast lost every subscription of the account');
      value(await engine.setSubscriptions(alice, 'n', alice, [{ jid: 'Dave@Example.org', subscription: 'subscribed' }]));
      assert.deepEqual(value(await engine.getSubscriptions(alice, 'n', alice)).map((s) => s.jid), ['dave@example.org']);
      value(await engine.setSubscriptions(alice, 'n', alice, [{ jid: 'DAVE@example.org', subscription: 'none' }]));
      assert.deepEqual(value(await engine.getSubscriptions(alice, 'n', alice)), []);
    });

    test('roster entries and the owner of a presence node compare folded', async () => {
      const alice = owner();
      value(await engine.createNode(alice, 'pres', alice, { access_model: 'presence' }));
      roster.set(alice.toUpperCase(), [{ jid: 'frank@example.org', subscription: 'both', groups: [] }]);
      value(await engine.getItems(alice, 'pres', 'Frank@EXAMPLE.org/x'));
      assert.equal(errorOf(await engine.getItems(alice, 'pres', 'grace@example.org/x')), 'node-not-found');
    });
  });
}
