import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createPubsubEngine, type PubsubEngine, type PubsubResult } from './engine';
import { BACKENDS, createStorageFixture, type StorageFixture } from './test-fixtures';

/** `nodeMembers`: a node's subscriptions and affiliations in one read (the notifier's), on every backend. */

function value<T>(r: PubsubResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error}`);
  return r.value;
}

for (const backend of BACKENDS) {
  describe(`node members on ${backend} storage`, () => {
    let fx: StorageFixture;
    let engine: PubsubEngine;
    before(async () => {
      fx = await createStorageFixture(backend);
      let n = 0;
      engine = createPubsubEngine({ storage: fx.storage, generateSubId: () => `s${++n}` });
    });
    after(async () => fx.close());

    test('subscriptions and affiliations of a live node; undefined for none or a deleted one', async () => {
      const owner = `o-${randomUUID().slice(0, 8)}@example.org`;
      const node = 'urn:xmpp:test:members';
      value(await engine.publish(owner, node, `${owner}/a`, 'i1', '<x xmlns="urn:x"/>', { requestId: randomUUID(), publishOptions: { access_model: 'open' } }));
      assert.deepEqual(await engine.nodeMembers(owner, node), { subscriptions: [], affiliations: [] });
      value(await engine.subscribe(owner, node, 'zed@example.net/r', 'zed@example.net'));
      value(await engine.subscribe(owner, node, 'amy@example.net/r', 'amy@example.net/r'));
      value(await engine.setAffiliations(owner, node, owner, [{ jid: 'bob@example.net', affiliation: 'member' }, { jid: 'eve@example.net', affiliation: 'outcast' }]));
      const m = (await engine.nodeMembers(owner, node))!;
      assert.deepEqual(m.subscriptions.map((s) => [s.jid, s.subid, s.state]), [['amy@example.net/r', 's2', 'subscribed'], ['zed@example.net', 's1', 'subscribed']]);
      assert.ok(m.subscriptions.every((s) => s.createdAt instanceof Date && !Number.isNaN(s.createdAt.getTime())));
      assert.deepEqual(m.affiliations, [{ jid: 'bob@example.net', affiliation: 'member' }, { jid: 'eve@example.net', affiliation: 'outcast' }]);
      assert.equal(await engine.nodeMembers(owner, 'urn:xmpp:test:none'), undefined);
      value(await engine.deleteNode(owner, node, owner, { requestId: randomUUID() }));
      assert.equal(await engine.nodeMembers(owner, node), undefined);
    });
  });
}
