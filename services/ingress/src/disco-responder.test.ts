import { test } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import type { WorkerFeatures } from '@dbroker/bus';
import { createDiscoResponder } from './disco-responder';

// Disco nesting as ejabberd 23.01 asks it: `::` and `:bare:` per delegated namespace, all at component
// connect, then every answer of one kind concatenated into one disco#info. The PEP worker serves both
// pubsub and pubsub#owner with the same list; the merged result must hold each item exactly once.
const PUBSUB = 'http://jabber.org/protocol/pubsub';
const OWNER = 'http://jabber.org/protocol/pubsub#owner';
const MAM = 'urn:xmpp:mam:2';
const PEP: WorkerFeatures = { identities: [{ category: 'pubsub', type: 'pep' }], features: [PUBSUB, `${PUBSUB}#publish`, `${PUBSUB}#retrieve-items`] };
const MAM_F: WorkerFeatures = { identities: [], features: [MAM, `${MAM}#extended`] };
const BY_SUBJECT: Record<string, WorkerFeatures> = { 'xmpp.features.pubsub': PEP, 'xmpp.features.pubsub-owner': PEP, 'xmpp.features.mam': MAM_F };

function responder(clock: { t: number }) {
  return createDiscoResponder({
    subjectPrefix: 'xmpp',
    cacheMs: 30_000,
    waitMs: 0,
    fetchFeatures: async (subject) => BY_SUBJECT[subject] ?? null,
    now: () => clock.t,
  });
}

const query = (node: string, id = node) =>
  xml('iq', { type: 'get', id, from: 'localhost', to: 'pubsub.localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node }));

function items(answer: Element): { features: string[]; identities: string[] } {
  const q = answer.getChild('query', 'http://jabber.org/protocol/disco#info')!;
  return {
    features: q.getChildren('feature').map((f) => f.attrs.var!),
    identities: q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`),
  };
}

async function mergedAsEjabberd(r: ReturnType<typeof createDiscoResponder>, version: string, scope: '::' | ':bare:', order: string[]) {
  const answers = await Promise.all(order.map((ns) => r.answer(query(`${version}${scope}${ns}`))));
  for (const [i, a] of answers.entries()) {
    assert.equal(a.attrs.type, 'result');
    assert.equal(a.getChild('query')!.attrs.node, `${version}${scope}${order[i]}`, 'node echoed (ejabberd activates only then)');
  }
  const each = answers.map(items);
  return { features: each.flatMap((e) => e.features), identities: each.flatMap((e) => e.identities), each };
}

test('namespaces served by one worker kind get disjoint answers whose union is the worker list, in any order', async () => {
  for (const order of [[PUBSUB, OWNER, MAM], [OWNER, MAM, PUBSUB]]) {
    const r = responder({ t: 0 });
    const bare = await mergedAsEjabberd(r, 'urn:xmpp:delegation:1', ':bare:', order);
    assert.deepEqual([...bare.features].sort(), [...PEP.features, ...MAM_F.features].sort(), 'each feature exactly once');
    assert.deepEqual(bare.identities, ['pubsub/pep'], 'the identity exactly once');
    const domain = await mergedAsEjabberd(r, 'urn:xmpp:delegation:1', '::', order);
    assert.deepEqual([...domain.features].sort(), [...PEP.features, ...MAM_F.features].sort(), 'the domain scope is claimed separately');
    assert.deepEqual(domain.identities, [], 'no identities on the server domain');
  }
});

test('a namespace asking again (reconnect) gets its items again; an expired claim frees them for another namespace', async () => {
  const clock = { t: 1_000 };
  const r = responder(clock);
  const first = items(await r.answer(query(`urn:xmpp:delegation:2:bare:${PUBSUB}`)));
  assert.deepEqual(first.identities, ['pubsub/pep']);
  assert.deepEqual(items(await r.answer(query(`urn:xmpp:delegation:2:bare:${OWNER}`))).features, []);
  clock.t += 5_000;
  assert.deepEqual(items(await r.answer(query(`urn:xmpp:delegation:2:bare:${PUBSUB}`))), first, 'same namespace, same answer');
  assert.deepEqual(items(await r.answer(query(`urn:xmpp:delegation:2:bare:${OWNER}`))).features, []);
  clock.t += 31_000; // pubsub no longer asked (no longer delegated): pubsub#owner takes over
  assert.deepEqual(items(await r.answer(query(`urn:xmpp:delegation:2:bare:${OWNER}`))), first);
});
