import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { parseXml, STANZA_ERROR_NS as NS_STANZAS } from '@dbroker/protocol';
import { createMemoryRosterLookup } from './access';
import { createPubsubEngine } from './engine';
import { FEATURES, NS_PUBSUB, NS_PUBSUB_ERRORS, PEP_FEATURE_TABLE, PEP_FEATURES } from './features';
import { createMemoryPubsubStorage } from './memory-storage';
import { handlePepDiscoInfo, handlePepDiscoIq, handlePepDiscoItems, handlePubsubIq } from './translator';

/** XEP-0060 owner use cases, subscriptions, affiliations, and disco on the bare JID, as stanzas. */

const HAMLET = 'hamlet@denmark.lit';
const HAMLET_FULL = `${HAMLET}/elsinore`;
const HORATIO = 'horatio@denmark.lit';
const BERNARDO = 'bernardo@denmark.lit';
const OWNER_NS = 'http://jabber.org/protocol/pubsub#owner';
const NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';

function canon(el: Element | string): string {
  if (typeof el === 'string') return el.trim() === '' ? '' : xml.escapeXMLText(el);
  const attrs = Object.entries(el.attrs)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => ` ${k}="${xml.escapeXML(String(v))}"`)
    .join('');
  return `<${el.name}${attrs}>${el.children.map(canon).join('')}</${el.name}>`;
}
const assertXml = (actual: Element, expected: string) => assert.equal(canon(actual), canon(parseXml(expected)));

function errorOf(reply: Element) {
  assert.equal(reply.attrs.type, 'error', reply.toString());
  const error = reply.getChild('error');
  assert.ok(error);
  const elements = error.getChildElements();
  return {
    type: error.attrs.type,
    condition: elements.find((e) => e.attrs.xmlns === NS_STANZAS && e.name !== 'text')?.name,
    app: elements.find((e) => e.attrs.xmlns === NS_PUBSUB_ERRORS)?.name,
  };
}

function setup() {
  const roster = createMemoryRosterLookup({ [HAMLET]: [{ jid: HORATIO, subscription: 'both', groups: ['Friends'] }] });
  const storage = createMemoryPubsubStorage();
  let n = 0;
  const engine = createPubsubEngine({ storage, roster, generateSubId: () => `sub${++n}` });
  const send = async (stanza: string, requestId = randomUUID()) => await handlePubsubIq(parseXml(stanza), { engine, requestId });
  const iq = (type: 'get' | 'set', ns: string, body: string, from = HAMLET_FULL, id = 'r1') =>
    send(`<iq type='${type}' from='${from}' to='${HAMLET}' id='${id}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`);
  const disco = async (ns: 'info' | 'items', node: string | undefined, from: string) => {
    const q = `<iq type='get' from='${from}' to='${HAMLET}' id='d1'><query xmlns='http://jabber.org/protocol/disco#${ns}'${node === undefined ? '' : ` node='${node}'`}/></iq>`;
    return await (ns === 'info' ? handlePepDiscoInfo : handlePepDiscoItems)(parseXml(q), { engine });
  };
  return { engine, storage, send, iq, disco };
}

const configForm = (fields: Record<string, string | string[]>, type = 'submit') =>
  `<x xmlns='jabber:x:data' type='${type}'><field var='FORM_TYPE' type='hidden'><value>${NODE_CONFIG}</value></field>` +
  Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'>${(Array.isArray(v) ? v : [v]).map((x) => `<value>${x}</value>`).join('')}</field>`)
    .join('') +
  `</x>`;

const fieldValues = (form: Element | undefined, name: string) =>
  form
    ?.getChildren('field', 'jabber:x:data')
    .find((f) => f.attrs.var === name)
    ?.getChildren('value', 'jabber:x:data')
    .map((v) => v.getText());

describe('node configuration (XEP-0060 §8.1-§8.3)', () => {
  test('create with a configure form (§8.1.3), configure get shows it (§8.2.1), default (§8.3)', async () => {
    const { iq } = setup();
    const created = await iq('set', NS_PUBSUB, `<create node='princely_musings'/><configure>${configForm({ 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': ['Friends', 'Family'], 'pubsub#max_items': '5' })}</configure>`);
    assertXml(created, `<iq type='result' from='${HAMLET}' to='${HAMLET_FULL}' id='r1'/>`);
    const got = await iq('get', OWNER_NS, `<configure node='princely_musings'/>`);
    assert.equal(got.attrs.type, 'result');
    const form = got.getChild('pubsub', OWNER_NS)?.getChild('configure')?.getChild('x', 'jabber:x:data');
    assert.equal(got.getChild('pubsub', OWNER_NS)?.getChild('configure')?.attrs.node, 'princely_musings');
    assert.equal(form?.attrs.type, 'form');
    assert.deepEqual(fieldValues(form, 'FORM_TYPE'), [NODE_CONFIG]);
    assert.deepEqual(fieldValues(form, 'pubsub#access_model'), ['roster']);
    assert.deepEqual(fieldValues(form, 'pubsub#roster_groups_allowed'), ['Friends', 'Family']);
    assert.deepEqual(fieldValues(form, 'pubsub#max_items'), ['5']);
    assert.deepEqual(fieldValues(form, 'pubsub#persist_items'), ['1']);
    assert.deepEqual(fieldValues(form, 'pubsub#notify_delete'), ['1']);
    const accessField = form?.getChildren('field', 'jabber:x:data').find((f) => f.attrs.var === 'pubsub#access_model');
    assert.equal(accessField?.attrs.type, 'list-single');
    assert.deepEqual(
      accessField?.getChildren('option', 'jabber:x:data').map((o) => o.getChildText('value', 'jabber:x:data')),
      ['open', 'presence', 'roster', 'whitelist'],
    );

    const dflt = await iq('get', OWNER_NS, '<default/>');
    const dform = dflt.getChild('pubsub', OWNER_NS)?.getChild('default')?.getChild('x', 'jabber:x:data');
    assert.deepEqual(fieldValues(dform, 'pubsub#access_model'), ['presence']);
    assert.deepEqual(fieldValues(dform, 'pubsub#max_items'), ['1']);

    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<create node='princely_musings'/>`)), { type: 'cancel', condition: 'conflict', app: undefined });
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<create/>`)), { type: 'modify', condition: 'bad-request', app: 'nodeid-required' });
  });

  test('configure set (§8.2.4), cancel (§8.2.6), invalid options (§8.2.5.3), not the owner (§8.2.3.2)', async () => {
    const { iq, engine } = setup();
    await iq('set', NS_PUBSUB, `<create node='n'/>`);
    for (let i = 1; i <= 3; i++) await engine.publish(HAMLET, 'n', HAMLET_FULL, `i${i}`, `<a xmlns='urn:a'>${i}</a>`, { requestId: randomUUID() });
    const set = await iq('set', OWNER_NS, `<configure node='n'>${configForm({ 'pubsub#access_model': 'open', 'pubsub#max_items': 'max' })}</configure>`);
    assert.equal(set.attrs.type, 'result');
    const config = await engine.getConfig(HAMLET, 'n', HAMLET);
    assert.ok(config.ok);
    assert.deepEqual([config.value.access_model, config.value.max_items], ['open', 'max']);
    const cancel = await iq('set', OWNER_NS, `<configure node='n'><x xmlns='jabber:x:data' type='cancel'/></configure>`);
    assert.equal(cancel.attrs.type, 'result');
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<configure node='n'>${configForm({ 'pubsub#title': 'x' })}</configure>`)), {
      type: 'modify',
      condition: 'not-acceptable',
      app: undefined,
    });
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<configure node='n'>${configForm({ 'pubsub#access_model': 'authorize' })}</configure>`)).condition, 'not-acceptable');
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<configure node='n'>${configForm({}, 'form')}</configure>`)).condition, 'bad-request');
    assert.deepEqual(errorOf(await iq('get', OWNER_NS, `<configure node='n'/>`, `${HORATIO}/x`)), { type: 'auth', condition: 'forbidden', app: undefined });
    assert.deepEqual(errorOf(await iq('get', OWNER_NS, `<configure node='missing'/>`)), { type: 'cancel', condition: 'item-not-found', app: undefined });
    assert.deepEqual(errorOf(await iq('get', OWNER_NS, `<configure/>`)), { type: 'modify', condition: 'bad-request', app: 'nodeid-required' });
  });

  test('publish-options that conflict with the node: precondition-not-met (§7.1.5)', async () => {
    const { send } = setup();
    const publish = (access: string) =>
      send(
        `<iq type='set' from='${HAMLET_FULL}' to='${HAMLET}' id='p'><pubsub xmlns='${NS_PUBSUB}'><publish node='n'><item id='1'><a xmlns='urn:a'/></item></publish>` +
          `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
          `<field var='pubsub#access_model'><value>${access}</value></field></x></publish-options></pubsub></iq>`,
      );
    assert.equal((await publish('whitelist')).attrs.type, 'result');
    const reply = await publish('open');
    assert.deepEqual(errorOf(reply), { type: 'cancel', condition: 'conflict', app: 'precondition-not-met' });
    assert.match(reply.toString(), /<precondition-not-met xmlns="http:\/\/jabber.org\/protocol\/pubsub#errors"\/>/);
  });
});

describe('delete and purge (XEP-0060 §8.4, §8.5)', () => {
  test('delete with redirect; purge; both refused to others', async () => {
    const { iq, engine } = setup();
    await engine.publish(HAMLET, 'n', HAMLET_FULL, 'a', `<a xmlns='urn:a'/>`, { requestId: randomUUID() });
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<purge node='n'/>`, `${HORATIO}/x`)).condition, 'forbidden');
    assert.equal((await iq('set', OWNER_NS, `<purge node='n'/>`)).attrs.type, 'result');
    const items = await engine.getItems(HAMLET, 'n', HAMLET);
    assert.ok(items.ok);
    assert.equal(items.value.items.length, 0);
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<delete node='n'/>`, `${HORATIO}/x`)).condition, 'forbidden');
    assert.equal((await iq('set', OWNER_NS, `<delete node='n'><redirect uri='xmpp:hamlet@denmark.lit?;node=blog'/></delete>`)).attrs.type, 'result');
    assert.equal(errorOf(await iq('set', OWNER_NS, `<delete node='n'/>`)).condition, 'item-not-found');
    assert.equal(errorOf(await iq('get', OWNER_NS, `<delete node='n'/>`)).condition, 'bad-request');
  });
});

describe('affiliations and subscriptions', () => {
  test('owner affiliations get/set (§8.9); entity affiliations (§5.7)', async () => {
    const { iq } = setup();
    await iq('set', NS_PUBSUB, `<create node='w'/><configure>${configForm({ 'pubsub#access_model': 'whitelist' })}</configure>`);
    const set = await iq('set', OWNER_NS, `<affiliations node='w'><affiliation jid='${BERNARDO}' affiliation='member'/><affiliation jid='${HORATIO}' affiliation='outcast'/></affiliations>`);
    assert.equal(set.attrs.type, 'result');
    assertXml(
      await iq('get', OWNER_NS, `<affiliations node='w'/>`),
      `<iq type='result' from='${HAMLET}' to='${HAMLET_FULL}' id='r1'><pubsub xmlns='${OWNER_NS}'><affiliations node='w'>` +
        `<affiliation jid='${HAMLET}' affiliation='owner'/><affiliation jid='${BERNARDO}' affiliation='member'/><affiliation jid='${HORATIO}' affiliation='outcast'/>` +
        `</affiliations></pubsub></iq>`,
    );
    assertXml(
      await iq('get', NS_PUBSUB, `<affiliations/>`, `${BERNARDO}/x`),
      `<iq type='result' from='${HAMLET}' to='${BERNARDO}/x' id='r1'><pubsub xmlns='${NS_PUBSUB}'><affiliations><affiliation node='w' affiliation='member'/></affiliations></pubsub></iq>`,
    );
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<affiliations node='w'><affiliation jid='${HAMLET}' affiliation='none'/></affiliations>`)).condition, 'not-acceptable');
    assert.deepEqual(errorOf(await iq('set', OWNER_NS, `<affiliations node='w'><affiliation jid='${BERNARDO}'/></affiliations>`)).condition, 'bad-request');
    assert.deepEqual(errorOf(await iq('get', OWNER_NS, `<affiliations node='w'/>`, `${BERNARDO}/x`)).condition, 'forbidden');
  });

  test('subscribe (§6.1) and its errors, retrieve (§5.6), unsubscribe (§6.2), owner management (§8.8)', async () => {
    const { iq } = setup();
    await iq('set', NS_PUBSUB, `<create node='p'/>`);
    assertXml(
      await iq('set', NS_PUBSUB, `<subscribe node='p' jid='${HORATIO}/x'/>`, `${HORATIO}/x`),
      `<iq type='result' from='${HAMLET}' to='${HORATIO}/x' id='r1'><pubsub xmlns='${NS_PUBSUB}'><subscription node='p' jid='${HORATIO}/x' subscription='subscribed' subid='sub1'/></pubsub></iq>`,
    );
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<subscribe node='p' jid='${HORATIO}'/>`, `${BERNARDO}/x`)), { type: 'modify', condition: 'bad-request', app: 'invalid-jid' });
    // refused by the access model: answered like a missing node
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<subscribe node='p' jid='${BERNARDO}'/>`, `${BERNARDO}/x`)), { type: 'cancel', condition: 'item-not-found', app: undefined });
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<subscribe node='missing' jid='${BERNARDO}'/>`, `${BERNARDO}/x`)).condition, 'item-not-found');
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<subscribe node='p' jid='${HORATIO}'/><options><x xmlns='jabber:x:data' type='submit'/></options>`, `${HORATIO}/x`)).condition, 'feature-not-implemented');
    assertXml(
      await iq('get', NS_PUBSUB, `<subscriptions/>`, `${HORATIO}/y`),
      `<iq type='result' from='${HAMLET}' to='${HORATIO}/y' id='r1'><pubsub xmlns='${NS_PUBSUB}'><subscriptions><subscription node='p' jid='${HORATIO}/x' subscription='subscribed' subid='sub1'/></subscriptions></pubsub></iq>`,
    );
    assertXml(
      await iq('get', OWNER_NS, `<subscriptions node='p'/>`),
      `<iq type='result' from='${HAMLET}' to='${HAMLET_FULL}' id='r1'><pubsub xmlns='${OWNER_NS}'><subscriptions node='p'><subscription jid='${HORATIO}/x' subscription='subscribed' subid='sub1'/></subscriptions></pubsub></iq>`,
    );
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<unsubscribe node='p' jid='${HORATIO}/x' subid='nope'/>`, `${HORATIO}/x`)), { type: 'modify', condition: 'not-acceptable', app: 'invalid-subid' });
    assert.equal((await iq('set', NS_PUBSUB, `<unsubscribe node='p' jid='${HORATIO}/x' subid='sub1'/>`, `${HORATIO}/x`)).attrs.type, 'result');
    assert.deepEqual(errorOf(await iq('set', NS_PUBSUB, `<unsubscribe node='p' jid='${HORATIO}/x'/>`, `${HORATIO}/x`)), { type: 'cancel', condition: 'unexpected-request', app: 'not-subscribed' });
    assert.equal((await iq('set', OWNER_NS, `<subscriptions node='p'><subscription jid='${BERNARDO}' subscription='subscribed'/></subscriptions>`)).attrs.type, 'result');
    assert.match((await iq('get', OWNER_NS, `<subscriptions node='p'/>`)).toString(), new RegExp(`jid="${BERNARDO}"`));
    assert.equal(errorOf(await iq('set', OWNER_NS, `<subscriptions node='p'><subscription jid='${BERNARDO}' subscription='pending'/></subscriptions>`)).condition, 'bad-request');
  });
});

describe('disco on the bare JID (XEP-0030, XEP-0163 §1)', () => {
  async function seeded() {
    const s = setup();
    await s.iq('set', NS_PUBSUB, `<create node='urn:xmpp:open'/><configure>${configForm({ 'pubsub#access_model': 'open', 'pubsub#max_items': '5' })}</configure>`);
    await s.iq('set', NS_PUBSUB, `<create node='urn:xmpp:presence'/>`);
    await s.iq('set', NS_PUBSUB, `<create node='urn:xmpp:secret'/><configure>${configForm({ 'pubsub#access_model': 'whitelist' })}</configure>`);
    for (const id of ['a', 'b']) await s.engine.publish(HAMLET, 'urn:xmpp:open', HAMLET_FULL, id, `<x xmlns='urn:x'/>`, { requestId: randomUUID() });
    await s.engine.publish(HAMLET, 'urn:xmpp:secret', HAMLET_FULL, 's', `<x xmlns='urn:x'/>`, { requestId: randomUUID() });
    return s;
  }

  test('info without node: account and PEP identities, PEP features', async () => {
    const { disco } = await seeded();
    const reply = await disco('info', undefined, `${BERNARDO}/x`);
    const query = reply.getChild('query', 'http://jabber.org/protocol/disco#info');
    assert.deepEqual(
      query?.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`),
      ['account/registered', 'pubsub/pep'],
    );
    const features = query?.getChildren('feature').map((f) => f.attrs.var) ?? [];
    for (const f of PEP_FEATURES) assert.ok(features.includes(f), f);
    assert.ok(features.includes('http://jabber.org/protocol/disco#info'));
  });

  test('info with node: identity and meta-data when readable, item-not-found otherwise (same as missing)', async () => {
    const { disco } = await seeded();
    const reply = await disco('info', 'urn:xmpp:presence', `${HORATIO}/x`);
    const query = reply.getChild('query', 'http://jabber.org/protocol/disco#info');
    assert.equal(query?.attrs.node, 'urn:xmpp:presence');
    assert.deepEqual(
      query?.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`),
      ['pubsub/leaf'],
    );
    const form = query?.getChild('x', 'jabber:x:data');
    assert.deepEqual(fieldValues(form, 'FORM_TYPE'), ['http://jabber.org/protocol/pubsub#meta-data']);
    assert.deepEqual(fieldValues(form, 'pubsub#owner'), [HAMLET]);
    assert.deepEqual(fieldValues(form, 'pubsub#access_model'), ['presence']);
    const hidden = await disco('info', 'urn:xmpp:presence', `${BERNARDO}/x`);
    const missing = await disco('info', 'urn:xmpp:nothing', `${BERNARDO}/x`);
    assert.equal(canon(hidden).replace(/urn:xmpp:presence/g, 'N'), canon(missing).replace(/urn:xmpp:nothing/g, 'N'));
    assert.deepEqual(errorOf(hidden), { type: 'cancel', condition: 'item-not-found', app: undefined });
  });

  test('items without node: the readable nodes; with node: the item ids when readable', async () => {
    const { disco } = await seeded();
    const nodes = async (from: string) =>
      (await disco('items', undefined, from)).getChild('query', 'http://jabber.org/protocol/disco#items')?.getChildren('item').map((i) => `${i.attrs.jid} ${i.attrs.node}`);
    assert.deepEqual(await nodes(`${BERNARDO}/x`), [`${HAMLET} urn:xmpp:open`]);
    assert.deepEqual(await nodes(`${HORATIO}/x`), [`${HAMLET} urn:xmpp:open`, `${HAMLET} urn:xmpp:presence`]);
    assert.deepEqual(await nodes(HAMLET_FULL), [`${HAMLET} urn:xmpp:open`, `${HAMLET} urn:xmpp:presence`, `${HAMLET} urn:xmpp:secret`]);
    assertXml(
      await disco('items', 'urn:xmpp:open', `${BERNARDO}/x`),
      `<iq type='result' from='${HAMLET}' to='${BERNARDO}/x' id='d1'><query xmlns='http://jabber.org/protocol/disco#items' node='urn:xmpp:open'>` +
        `<item jid='${HAMLET}' name='a'/><item jid='${HAMLET}' name='b'/></query></iq>`,
    );
    const hidden = await disco('items', 'urn:xmpp:secret', `${BERNARDO}/x`);
    const missing = await disco('items', 'urn:xmpp:nothing', `${BERNARDO}/x`);
    assert.deepEqual(errorOf(hidden), errorOf(missing));
    assert.equal(errorOf(hidden).condition, 'item-not-found');
  });

  test('routing and malformed disco requests', async () => {
    const { engine } = await seeded();
    const route = (q: string) => handlePepDiscoIq(parseXml(q), { engine });
    assert.equal(route(`<iq type='get' from='${BERNARDO}/x' to='${HAMLET}' id='z'><pubsub xmlns='${NS_PUBSUB}'/></iq>`), undefined);
    const set = await route(`<iq type='set' from='${BERNARDO}/x' to='${HAMLET}' id='z'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    assert.equal(set && errorOf(set).condition, 'bad-request');
  });
});

describe('feature table', () => {
  test('advertised features are exactly the supported rows', () => {
    assert.deepEqual(
      FEATURES,
      PEP_FEATURE_TABLE.filter((r) => r.supported).map((r) => `${NS_PUBSUB}#${r.feature}`),
    );
    const supported = new Set(PEP_FEATURE_TABLE.filter((r) => r.supported).map((r) => r.feature));
    for (const f of ['access-presence', 'access-roster', 'access-whitelist', 'config-node', 'create-nodes', 'delete-nodes', 'purge-nodes', 'subscribe', 'retrieve-subscriptions', 'modify-affiliations', 'manage-subscriptions', 'meta-data', 'last-published']) {
      assert.ok(supported.has(f), f);
    }
    for (const f of ['subscription-options', 'instant-nodes', 'access-authorize', 'leased-subscription']) assert.ok(!supported.has(f), f);
    assert.equal(new Set(PEP_FEATURE_TABLE.map((r) => r.feature)).size, PEP_FEATURE_TABLE.length);
  });
});
