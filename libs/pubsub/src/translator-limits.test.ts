import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { parseErrorElement, parseXml } from '@dbroker/protocol';
import { createPubsubEngine } from './engine';
import { NS_PUBSUB, NS_PUBSUB_ERRORS } from './features';
import type { PubsubLimits } from './limits';
import { createMemoryPubsubStorage } from './memory-storage';
import { NS_RSM } from './rsm';
import { handlePubsubIq } from './translator';

// The per-user limits on the wire: the XMPP error of each refusal, and XEP-0059 pages of item retrievals.

const OWNER = 'juliet@capulet.lit';
const ME = `${OWNER}/balcony`;

function context(limits: Partial<PubsubLimits>) {
  const engine = createPubsubEngine({ storage: createMemoryPubsubStorage(), limits });
  return async (stanza: string) => await handlePubsubIq(parseXml(stanza), { engine, requestId: randomUUID() });
}

const publish = (node: string, id: string, opts = '') =>
  `<iq type='set' from='${ME}' to='${OWNER}' id='p'><pubsub xmlns='${NS_PUBSUB}'><publish node='${node}'><item id='${id}'><x xmlns='urn:t'>${'a'.repeat(40)}</x></item></publish>${opts}</pubsub></iq>`;
const items = (node: string, extra = '', attrs = '') =>
  `<iq type='get' from='${ME}' to='${OWNER}' id='i'><pubsub xmlns='${NS_PUBSUB}'><items node='${node}'${attrs}/>${extra}</pubsub></iq>`;
const rsm = (inner: string) => `<set xmlns='${NS_RSM}'>${inner}</set>`;
const maxItemsOptions = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options>`;

function errorOf(reply: Element) {
  assert.equal(reply.attrs.type, 'error', reply.toString());
  const err = parseErrorElement(reply)!;
  const app = reply.getChild('error')!.getChildElements().find((c) => c.attrs.xmlns === NS_PUBSUB_ERRORS)?.name;
  return { type: reply.getChild('error')!.attrs.type, condition: err.condition, app, text: err.text };
}

const ids = (reply: Element) => reply.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id as string);
function setOf(reply: Element) {
  const set = reply.getChild('pubsub', NS_PUBSUB)!.getChild('set', NS_RSM);
  if (!set) return undefined;
  const first = set.getChild('first');
  return { first: first?.getText(), index: first?.attrs.index, last: set.getChildText('last') ?? undefined, count: set.getChildText('count') ?? undefined };
}

describe('limit refusals on the wire', () => {
  test('too many nodes: policy-violation with max-nodes-exceeded, the reason in the text', async () => {
    const send = context({ maxNodesPerUser: 1 });
    assert.equal((await send(publish('a', '1'))).attrs.type, 'result');
    const err = errorOf(await send(publish('b', '1')));
    assert.deepEqual([err.type, err.condition, err.app], ['cancel', 'policy-violation', 'max-nodes-exceeded']);
    assert.match(err.text ?? '', /nodes-per-user/);
  });

  test('quota: resource-constraint (wait); one item too big: not-acceptable with payload-too-big', async () => {
    const send = context({ maxBytesPerUser: 100, maxPayloadBytes: 80 });
    assert.equal((await send(publish('a', '1', maxItemsOptions))).attrs.type, 'result');
    const quota = errorOf(await send(publish('a', '2', maxItemsOptions)));
    assert.deepEqual([quota.type, quota.condition, quota.app], ['wait', 'resource-constraint', undefined]);
    assert.match(quota.text ?? '', /bytes-per-user/);
    const big = `<iq type='set' from='${ME}' to='${OWNER}' id='p'><pubsub xmlns='${NS_PUBSUB}'><publish node='a'><item id='x'><x xmlns='urn:t'>${'a'.repeat(80)}</x></item></publish></pubsub></iq>`;
    const tooBig = errorOf(await send(big));
    assert.deepEqual([tooBig.condition, tooBig.app], ['not-acceptable', 'payload-too-big']);
  });

  test('subscriptions full: policy-violation (wait) with too-many-subscriptions (XEP-0060 §6.1.3.9); affiliations full: policy-violation', async () => {
    const send = context({ maxSubscriptionsPerNode: 1, maxAffiliationsPerNode: 1 });
    const config = `<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>open</value></field></x></configure>`;
    assert.equal((await send(`<iq type='set' from='${ME}' to='${OWNER}' id='c'><pubsub xmlns='${NS_PUBSUB}'><create node='n'/>${config}</pubsub></iq>`)).attrs.type, 'result');
    const sub = (who: string) => `<iq type='set' from='${who}' to='${OWNER}' id='s'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='n' jid='${who}'/></pubsub></iq>`;
    assert.equal((await send(sub('romeo@montague.lit/x'))).attrs.type, 'result');
    const full = errorOf(await send(sub('benvolio@montague.lit/x')));
    assert.deepEqual([full.type, full.condition, full.app], ['wait', 'policy-violation', 'too-many-subscriptions']);
    const aff = (jid: string) =>
      `<iq type='set' from='${ME}' to='${OWNER}' id='a'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='n'><affiliation jid='${jid}' affiliation='outcast'/></affiliations></pubsub></iq>`;
    assert.equal((await send(aff('tybalt@capulet.lit'))).attrs.type, 'result');
    const affFull = errorOf(await send(aff('mercutio@verona.lit')));
    assert.deepEqual([affFull.type, affFull.condition, affFull.app], ['cancel', 'policy-violation', undefined]);
  });
});

describe('item retrieval pages (XEP-0060 §6.5.4, XEP-0059)', () => {
  test('without max_items: at most the page limit, with a <set/> to page on; RSM <max/> and <after/> are honoured', async () => {
    const send = context({ itemsPageMax: 2 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) assert.equal((await send(publish('n', id, maxItemsOptions))).attrs.type, 'result');
    const first = await send(items('n'));
    assert.deepEqual(ids(first), ['a', 'b']);
    assert.deepEqual(setOf(first), { first: 'a', index: '0', last: 'b', count: '5' });
    const next = await send(items('n', rsm('<max>10</max><after>b</after>')));
    assert.deepEqual(ids(next), ['c', 'd']);
    assert.deepEqual(setOf(next), { first: 'c', index: '2', last: 'd', count: '5' });
    const last = await send(items('n', rsm('<after>d</after>')));
    assert.deepEqual(ids(last), ['e']);
    assert.deepEqual(setOf(last), { first: 'e', index: '4', last: 'e', count: '5' });
    // an empty page carries the count only (XEP-0059 §2.7)
    const none = await send(items('n', rsm('<max>0</max>')));
    assert.deepEqual(ids(none), []);
    assert.deepEqual(setOf(none), { first: undefined, index: undefined, last: undefined, count: '5' });
    // max_items above the limit: the newest two, no set
    const newest = await send(items('n', '', ` max_items='100'`));
    assert.deepEqual(ids(newest), ['e', 'd']);
    assert.equal(setOf(newest), undefined);
  });

  test('a node that fits one page answers as before (no <set/> unless asked)', async () => {
    const send = context({ itemsPageMax: 10 });
    for (const id of ['a', 'b']) await send(publish('n', id, maxItemsOptions));
    const all = await send(items('n'));
    assert.deepEqual(ids(all), ['a', 'b']);
    assert.equal(setOf(all), undefined);
    assert.deepEqual(setOf(await send(items('n', rsm('<max>5</max>')))), { first: 'a', index: '0', last: 'b', count: '2' });
  });

  test('bad RSM: an unknown cursor is item-not-found, <before/> and <index/> feature-not-implemented, a bad <max/> bad-request', async () => {
    const send = context({});
    await send(publish('n', 'a'));
    assert.equal(errorOf(await send(items('n', rsm('<after>zz</after>')))).condition, 'item-not-found');
    assert.equal(errorOf(await send(items('n', rsm('<before/>')))).condition, 'feature-not-implemented');
    assert.equal(errorOf(await send(items('n', rsm('<index>3</index>')))).condition, 'feature-not-implemented');
    assert.equal(errorOf(await send(items('n', rsm('<max>-1</max>')))).condition, 'bad-request');
  });
});
