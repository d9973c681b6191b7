import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { iq, StanzaErrorResponse } from '../harness/xmpp-client';
import type { PepClient } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { eventually } from '../harness/wait';
import { itemsIq, NS_PUBSUB, publishIq, resultItemIds } from '../harness/pubsub-iq';

// Per-user limits with their defaults, through a real Prosody 0.12 and the broker as separate services:
// what real clients do still works (a bookmark migration of hundreds of items in one burst, read back in
// one request), and what they do not is bounded (a page of a large node with an RSM set to page on; a
// request flood refused with resource-constraint, then served again; the node limit per account).

const BOOKMARKS = 'urn:xmpp:bookmarks:1';
const MICROBLOG = 'urn:xmpp:microblog:0';
const NS_RSM = 'http://jabber.org/protocol/rsm';

let sc: PepScenario;
let alice: PepClient;
let bob: PepClient;
let carol: PepClient;
let mallory: PepClient;

before(async () => {
  sc = await startPepScenario({ users: ['alice', 'bob', 'carol', 'mallory'] });
  alice = await sc.pep('alice', 'phone', []);
  bob = await sc.pep('bob', 'pc', []);
  carol = await sc.pep('carol', 'pc', []);
  mallory = await sc.pep('mallory', 'pc', []);
});

after(async () => {
  await sc?.stop();
});

const errorCondition = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'result';
  } catch (err) {
    if (err instanceof StanzaErrorResponse) return `${err.type}/${err.condition}`;
    throw err;
  }
};

test('bookmark migration (XEP-0402): 300 conferences published back to back are all kept and read back in one request', async () => {
  const options = { persist_items: 'true', max_items: 'max', send_last_published_item: 'never', access_model: 'whitelist' };
  const jids = Array.from({ length: 300 }, (_, i) => `room${String(i).padStart(3, '0')}@muc.localhost`);
  // pipelined 20 at a time, as a client migrating its bookmarks does (one node: the publishes are applied
  // one after the other, so a single burst of 300 would wait on the node longer than the request bound)
  for (let at = 0; at < jids.length; at += 20) {
    await Promise.all(jids.slice(at, at + 20).map((jid, k) => iq(alice.client, publishIq(BOOKMARKS, jid, xml('conference', { xmlns: BOOKMARKS, name: `Room ${at + k}`, autojoin: 'true' }, xml('nick', {}, 'alice')), { options }), 30_000)));
  }
  const all = await iq(alice.client, itemsIq(BOOKMARKS));
  // published concurrently: stored in the order the workers applied them
  assert.deepEqual(resultItemIds(all).sort(), jids);
  assert.equal(all.getChild('pubsub', NS_PUBSUB)!.getChild('set', NS_RSM), undefined, 'one page: no RSM set');
});

test('a node larger than one page: the oldest items that fit, an RSM set, and the rest by <after/>', async () => {
  const options = { max_items: '100', access_model: 'open' };
  const entry = (i: number) => xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, `post ${i}`), xml('content', {}, 'x'.repeat(16 * 1024)));
  for (let i = 0; i < 20; i++) await iq(bob.client, publishIq(MICROBLOG, `post${String(i).padStart(2, '0')}`, entry(i), { options }));
  const seen: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 5 && seen.length < 20; page++) {
    const req = itemsIq(MICROBLOG, { to: 'bob@localhost' });
    if (after) req.getChild('pubsub', NS_PUBSUB)!.cnode(xml('set', { xmlns: NS_RSM }, xml('after', {}, after)));
    const res = await iq(carol.client, req);
    const ids = resultItemIds(res);
    const set = res.getChild('pubsub', NS_PUBSUB)!.getChild('set', NS_RSM);
    assert.ok(set, 'every page of this node says where it is');
    assert.equal(set.getChildText('count'), '20');
    assert.equal(set.getChild('first')!.attrs.index, String(seen.length));
    assert.ok(ids.length > 0 && ids.length < 20, `a page, not the node: ${ids.length}`);
    seen.push(...ids);
    after = set.getChildText('last') ?? undefined;
  }
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => `post${String(i).padStart(2, '0')}`));
});

test('a request flood: the burst is served, the rest refused with resource-constraint (wait); a moment later requests pass again', async (t) => {
  const outcomes = await Promise.all(Array.from({ length: 800 }, () => errorCondition(iq(mallory.client, itemsIq(BOOKMARKS), 30_000))));
  const served = outcomes.filter((o) => o === 'cancel/item-not-found').length;
  const refused = outcomes.filter((o) => o === 'wait/resource-constraint').length;
  assert.equal(served + refused, 800, [...new Set(outcomes)].join());
  assert.ok(served >= 500 && served < 800, `burst served: ${served}`);
  assert.ok(refused > 0);
  t.diagnostic(`800 requests at once: ${served} served, ${refused} refused`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await errorCondition(iq(mallory.client, itemsIq(BOOKMARKS))), 'cancel/item-not-found');
  // the audit log says why: one rejected row per refusal, with the condition and the reason
  await eventually(
    async () => (await sc.sqlRows(`select count(*)::int as n from audit_log where requester like 'mallory@localhost/%' and outcome = 'rejected' and condition = 'resource-constraint' and reason = 'rate-limited'`))[0]?.n === refused,
    15_000,
    `${refused} rate-limited audit rows`,
  );
});

test('nodes per account: the 257th node is refused with policy-violation', async () => {
  for (let i = 0; i < 256; i++) await iq(carol.client, publishIq(`urn:test:node:${i}`, 'x', xml('x', { xmlns: 'urn:test' })));
  const err = await iq(carol.client, publishIq('urn:test:node:256', 'x', xml('x', { xmlns: 'urn:test' }))).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof StanzaErrorResponse, String(err));
  assert.equal(err.condition, 'policy-violation');
  assert.match(err.text ?? '', /nodes-per-user/);
});
