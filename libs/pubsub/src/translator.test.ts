import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';
import { createPubsubEngine, PUBSUB_ERRORS } from './engine';
import { FEATURES, NS_PUBSUB, NS_PUBSUB_ERRORS, PEP_IDENTITY } from './features';
import { createMemoryPubsubStorage } from './memory-storage';
import type { PubsubStorage } from './storage';
import { parseXml, STANZA_ERROR_NS as NS_STANZAS } from '@dbroker/protocol';
import { handlePubsubIq, PUBSUB_ERROR_TABLE, type PubsubIqContext } from './translator';

// XEP-0060 examples use a pubsub component; for PEP (XEP-0163) the service is the owner's bare JID.
const HAMLET = 'hamlet@denmark.lit';
const FRANCISCO = 'francisco@denmark.lit/barracks';

const ATOM_ENTRY = `<entry xmlns='http://www.w3.org/2005/Atom'>
          <title>Soliloquy</title>
          <summary>
To be, or not to be: that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles,
And by opposing end them?
          </summary>
          <link rel='alternate' type='text/html'
                href='http://denmark.lit/2003/12/13/atom03'/>
          <id>tag:denmark.lit,2003:entry-32397</id>
          <published>2003-12-13T18:30:02Z</published>
          <updated>2003-12-13T18:30:02Z</updated>
        </entry>`;

/** XEP-0060 §7.1.1 Example 99 (addressed to the PEP service). */
const PUBLISH_EXAMPLE = `<iq type='set' from='hamlet@denmark.lit/blogbot' to='hamlet@denmark.lit' id='publish1'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <publish node='princely_musings'>
      <item id='bnd81g37d61f49fgn581'>
        ${ATOM_ENTRY}
      </item>
    </publish>
  </pubsub>
</iq>`;

/** Element tree as a string with attributes sorted and whitespace-only text dropped. */
function canon(el: Element | string): string {
  if (typeof el === 'string') return el.trim() === '' ? '' : xml.escapeXMLText(el);
  const attrs = Object.entries(el.attrs)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => ` ${k}="${xml.escapeXML(String(v))}"`)
    .join('');
  return `<${el.name}${attrs}>${el.children.map(canon).join('')}</${el.name}>`;
}

function assertXml(actual: Element, expected: string) {
  assert.equal(canon(actual), canon(parseXml(expected)));
}

/** Our own elements carry no whitespace text (payloads are the publisher's and kept as they are). */
function assertNoWhitespaceNodes(el: Element) {
  for (const child of el.children) {
    if (typeof child === 'string') assert.notEqual(child.trim(), '', `whitespace text node in <${el.name}>`);
    else if (el.name !== 'item') assertNoWhitespaceNodes(child);
  }
}

function errorOf(reply: Element) {
  assert.equal(reply.attrs.type, 'error');
  assert.equal(reply.children.length, 1, 'an error reply holds only <error/>');
  const error = reply.getChild('error');
  assert.ok(error);
  const elements = error.getChildElements();
  const condition = elements.find((e) => e.attrs.xmlns === NS_STANZAS && e.name !== 'text');
  const app = elements.find((e) => e.attrs.xmlns === NS_PUBSUB_ERRORS);
  return {
    type: error.attrs.type,
    condition: condition?.name,
    app: app?.name,
    feature: app?.attrs.feature,
    text: error.getChildText('text', NS_STANZAS) ?? undefined,
  };
}

function setup(opts: { storage?: PubsubStorage; maxPayloadBytes?: number } = {}) {
  const engine = createPubsubEngine({ storage: opts.storage ?? createMemoryPubsubStorage(), maxPayloadBytes: opts.maxPayloadBytes });
  const errors: object[] = [];
  const ctx = (requestId: string = randomUUID()): PubsubIqContext => ({ engine, requestId, logger: { error: (o) => errors.push(o) } });
  const send = async (stanza: string, requestId?: string) => {
    const reply = await handlePubsubIq(parseXml(stanza), ctx(requestId));
    assertNoWhitespaceNodes(reply);
    return reply;
  };
  return { engine, send, errors };
}

const publishIq = (opts: { id?: string; from?: string; to?: string; node?: string; itemId?: string; payload?: string; options?: string } = {}) =>
  `<iq type='set' from='${opts.from ?? `${HAMLET}/elsinore`}' to='${opts.to ?? HAMLET}' id='${opts.id ?? 'pub'}'>` +
  `<pubsub xmlns='${NS_PUBSUB}'><publish node='${opts.node ?? 'princely_musings'}'>` +
  `<item${opts.itemId === undefined ? '' : ` id='${opts.itemId}'`}>${opts.payload ?? "<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>"}</item>` +
  `</publish>${opts.options ?? ''}</pubsub></iq>`;

const itemsIq = (attrs: string, body = '', from = `${HAMLET}/elsinore`) =>
  `<iq type='get' from='${from}' to='${HAMLET}' id='items1'><pubsub xmlns='${NS_PUBSUB}'><items ${attrs}>${body}</items></pubsub></iq>`;

const publishOptions = (fields: Record<string, string>, formType = 'http://jabber.org/protocol/pubsub#publish-options') =>
  `<publish-options><x xmlns='jabber:x:data' type='submit'>` +
  `<field var='FORM_TYPE' type='hidden'><value>${formType}</value></field>` +
  Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('') +
  `</x></publish-options>`;

describe('publish (XEP-0060 §7.1)', () => {
  test('Example 99 → Example 100: the result names the item', async () => {
    const { send } = setup();
    const reply = await send(PUBLISH_EXAMPLE);
    assertXml(
      reply,
      `<iq type='result' from='hamlet@denmark.lit' to='hamlet@denmark.lit/blogbot' id='publish1'>
        <pubsub xmlns='http://jabber.org/protocol/pubsub'>
          <publish node='princely_musings'><item id='bnd81g37d61f49fgn581'/></publish>
        </pubsub>
      </iq>`,
    );
  });

  test('without an ItemID the service generates one and returns it (§7.1.2)', async () => {
    const { send } = setup();
    const reply = await send(publishIq({}));
    const id = reply.getChild('pubsub', NS_PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id;
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  });

  test('a retried request (same request id) gets the same reply and publishes once', async () => {
    const { send, engine } = setup();
    const requestId = randomUUID();
    const first = await send(publishIq({ options: publishOptions({ 'pubsub#max_items': '10' }) }), requestId);
    const again = await send(publishIq({ options: publishOptions({ 'pubsub#max_items': '10' }) }), requestId);
    assert.equal(again.toString(), first.toString());
    const items = await engine.getItems(HAMLET, 'princely_musings', HAMLET);
    assert.ok(items.ok && items.value.items.length === 1);
  });

  test('the payload is stored standalone: inherited namespaces are written on it', async () => {
    const { send, engine } = setup();
    await send(
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='p'><pubsub xmlns='${NS_PUBSUB}' xmlns:geo='urn:example:geo'>` +
        `<publish node='n'><item id='a'><note><geo:lat>1</geo:lat></note></item></publish></pubsub></iq>`,
    );
    const items = await engine.getItems(HAMLET, 'n', HAMLET);
    assert.ok(items.ok);
    const stored = parseXml(items.value.items[0]?.payload ?? '');
    assert.equal(stored.attrs.xmlns, NS_PUBSUB);
    assert.equal(stored.attrs['xmlns:geo'], 'urn:example:geo');
  });

  test('publish-options configure a new node (§7.1.5) and are preconditions afterwards', async () => {
    const { send } = setup();
    const create = await send(publishIq({ node: 'urn:xmpp:avatar:metadata', itemId: 'a', options: publishOptions({ 'pubsub#access_model': 'open' }) }));
    assert.equal(create.attrs.type, 'result');
    const read = await send(itemsIq("node='urn:xmpp:avatar:metadata'", '', FRANCISCO));
    assert.equal(read.attrs.type, 'result', 'anyone reads an open node');

    const conflict = await send(publishIq({ node: 'urn:xmpp:avatar:metadata', itemId: 'b', options: publishOptions({ 'pubsub#access_model': 'presence' }) }));
    assert.deepEqual(errorOf(conflict), { type: 'cancel', condition: 'conflict', app: 'precondition-not-met', feature: undefined, text: 'node access_model differs' });

    const unknown = await send(publishIq({ itemId: 'c', options: publishOptions({ 'pubsub#frobnicate': '1' }) }));
    assert.equal(errorOf(unknown).app, 'precondition-not-met');
    const badForm = await send(publishIq({ itemId: 'c', options: publishOptions({}, 'urn:example:other') }));
    assert.deepEqual([errorOf(badForm).condition, errorOf(badForm).app], ['bad-request', 'invalid-options']);
    const badValue = await send(publishIq({ itemId: 'c', options: publishOptions({ 'pubsub#max_items': 'lots' }) }));
    assert.deepEqual([errorOf(badValue).condition, errorOf(badValue).app], ['bad-request', 'invalid-options']);
    const empty = await send(publishIq({ node: 'plain', itemId: 'c', options: '<publish-options/>' }));
    assert.equal(empty.attrs.type, 'result', 'an empty publish-options element sets nothing');
  });

  test('error shapes (§7.1.3)', async () => {
    const { send } = setup({ maxPayloadBytes: 1024 });
    const cases: Array<[string, string, ReturnType<typeof errorOf> extends infer E ? Partial<E> : never]> = [
      [
        'no node → nodeid-required',
        `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='e'><pubsub xmlns='${NS_PUBSUB}'><publish><item><x xmlns='urn:x'/></item></publish></pubsub></iq>`,
        { type: 'modify', condition: 'bad-request', app: 'nodeid-required' },
      ],
      ['two payloads → invalid-payload', publishIq({ payload: "<a xmlns='urn:a'/><b xmlns='urn:b'/>" }), { type: 'modify', condition: 'bad-request', app: 'invalid-payload' }],
      ['no payload → payload-required', publishIq({ payload: '' }), { type: 'modify', condition: 'bad-request', app: 'payload-required' }],
      [
        'no item → item-required',
        `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='e'><pubsub xmlns='${NS_PUBSUB}'><publish node='n'/></pubsub></iq>`,
        { type: 'modify', condition: 'bad-request', app: 'item-required' },
      ],
      ["someone else's node → forbidden", publishIq({ from: FRANCISCO }), { type: 'auth', condition: 'forbidden', app: undefined }],
      [
        'payload too big → not-acceptable + payload-too-big',
        publishIq({ payload: `<big xmlns='urn:big'>${'x'.repeat(2000)}</big>` }),
        { type: 'modify', condition: 'not-acceptable', app: 'payload-too-big' },
      ],
      [
        'publish in a get → bad-request',
        publishIq({}).replace("type='set'", "type='get'"),
        { type: 'modify', condition: 'bad-request', app: undefined },
      ],
    ];
    for (const [name, stanza, expected] of cases) {
      const e = errorOf(await send(stanza));
      for (const [k, v] of Object.entries(expected)) assert.equal(e[k as keyof typeof e], v, `${name}: ${k}`);
    }
  });
});

describe('retrieve items (XEP-0060 §6.5)', () => {
  async function withBlog() {
    const s = setup();
    for (const [i, id] of ['368866411b877c30064a5f62b917cffe', '3300659945416e274474e469a1f0154c', '4e30f35051b7b8b42abe083742187228', 'ae890ac52d0df67ed7cfdf51b644e901'].entries()) {
      const reply = await s.send(
        publishIq({ itemId: id, payload: `<entry xmlns='http://www.w3.org/2005/Atom'><title>Entry ${i}</title></entry>`, options: publishOptions({ 'pubsub#max_items': 'max' }) }),
      );
      assert.equal(reply.attrs.type, 'result');
    }
    return s;
  }

  test('Example 78 → 79: all items, in publication order', async () => {
    const { send } = await withBlog();
    const reply = await send(itemsIq("node='princely_musings'"));
    assertXml(
      reply,
      `<iq type='result' from='hamlet@denmark.lit' to='hamlet@denmark.lit/elsinore' id='items1'>
        <pubsub xmlns='http://jabber.org/protocol/pubsub'>
          <items node='princely_musings'>
            <item id='368866411b877c30064a5f62b917cffe'><entry xmlns='http://www.w3.org/2005/Atom'><title>Entry 0</title></entry></item>
            <item id='3300659945416e274474e469a1f0154c'><entry xmlns='http://www.w3.org/2005/Atom'><title>Entry 1</title></entry></item>
            <item id='4e30f35051b7b8b42abe083742187228'><entry xmlns='http://www.w3.org/2005/Atom'><title>Entry 2</title></entry></item>
            <item id='ae890ac52d0df67ed7cfdf51b644e901'><entry xmlns='http://www.w3.org/2005/Atom'><title>Entry 3</title></entry></item>
          </items>
        </pubsub>
      </iq>`,
    );
  });

  test("Example 86 (max_items='2'): the two most recent, newest first", async () => {
    const { send } = await withBlog();
    const reply = await send(itemsIq("node='princely_musings' max_items='2'"));
    const ids = reply
      .getChild('pubsub', NS_PUBSUB)
      ?.getChild('items')
      ?.getChildren('item')
      .map((i) => i.attrs.id);
    assert.deepEqual(ids, ['ae890ac52d0df67ed7cfdf51b644e901', '4e30f35051b7b8b42abe083742187228']);
  });

  test('Example 88: one item by id', async () => {
    const { send } = await withBlog();
    const reply = await send(itemsIq("node='princely_musings'", "<item id='ae890ac52d0df67ed7cfdf51b644e901'/>"));
    assertXml(
      reply,
      `<iq type='result' from='hamlet@denmark.lit' to='hamlet@denmark.lit/elsinore' id='items1'>
        <pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='princely_musings'>
          <item id='ae890ac52d0df67ed7cfdf51b644e901'><entry xmlns='http://www.w3.org/2005/Atom'><title>Entry 3</title></entry></item>
        </items></pubsub>
      </iq>`,
    );
  });

  test('the payload comes back as published, whitespace and all', async () => {
    const { send } = setup();
    await send(PUBLISH_EXAMPLE);
    const reply = await send(itemsIq("node='princely_musings'"));
    const entry = reply.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChild('item')?.getChildElements()[0];
    assert.equal(entry?.toString(), parseXml(ATOM_ENTRY).toString());
  });

  test('error shapes (§6.5.9; access-model refusals look like a missing node)', async () => {
    const { send } = setup();
    await send(publishIq({ node: 'presence-node', itemId: 'a' }));
    await send(publishIq({ node: 'whitelist-node', itemId: 'a', options: publishOptions({ 'pubsub#access_model': 'whitelist' }) }));
    await send(publishIq({ node: 'roster-node', itemId: 'a', options: publishOptions({ 'pubsub#access_model': 'roster' }) }));
    assert.deepEqual(errorOf(await send(itemsIq("node='nonexistent'"))), { type: 'cancel', condition: 'item-not-found', app: undefined, feature: undefined, text: undefined });
    // a node the requester may not read answers like a node that does not exist (no existence leak)
    for (const node of ['presence-node', 'roster-node', 'whitelist-node']) {
      assert.deepEqual(errorOf(await send(itemsIq(`node='${node}'`, '', FRANCISCO))), { type: 'cancel', condition: 'item-not-found', app: undefined, feature: undefined, text: undefined }, node);
    }
    assert.equal(errorOf(await send(itemsIq(''))).app, 'nodeid-required');
    assert.equal(errorOf(await send(itemsIq("node='presence-node' max_items='0'"))).condition, 'bad-request');
    assert.equal(errorOf(await send(itemsIq("node='presence-node' max_items='many'"))).condition, 'bad-request');
    assert.equal(errorOf(await send(itemsIq("node='presence-node'").replace("type='get'", "type='set'"))).condition, 'bad-request');
  });
});

describe('retract (XEP-0060 §7.2)', () => {
  test('Example 115 → 116: empty result; the item is gone', async () => {
    const { send } = setup();
    await send(publishIq({ itemId: 'ae890ac52d0df67ed7cfdf51b644e901' }));
    const reply = await send(
      `<iq type='set' from='hamlet@denmark.lit/elsinore' to='hamlet@denmark.lit' id='retract1'>
        <pubsub xmlns='http://jabber.org/protocol/pubsub'>
          <retract node='princely_musings'>
            <item id='ae890ac52d0df67ed7cfdf51b644e901'/>
          </retract>
        </pubsub>
      </iq>`,
    );
    assert.equal(reply.toString(), `<iq type="result" id="retract1" from="hamlet@denmark.lit" to="hamlet@denmark.lit/elsinore"/>`);
    assertXml(
      await send(itemsIq("node='princely_musings'")),
      `<iq type='result' from='hamlet@denmark.lit' to='hamlet@denmark.lit/elsinore' id='items1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='princely_musings'/></pubsub></iq>`,
    );
  });

  test('error shapes (§7.2.3)', async () => {
    const { send } = setup();
    await send(publishIq({ itemId: 'a' }));
    const retract = (body: string, attrs = "node='princely_musings'", from = `${HAMLET}/elsinore`) =>
      send(`<iq type='set' from='${from}' to='${HAMLET}' id='r'><pubsub xmlns='${NS_PUBSUB}'><retract ${attrs}>${body}</retract></pubsub></iq>`);
    assert.deepEqual([errorOf(await retract('<item/>'))].map((e) => [e.type, e.condition, e.app]), [['modify', 'bad-request', 'item-required']]);
    assert.deepEqual([errorOf(await retract(''))].map((e) => [e.condition, e.app]), [['bad-request', 'item-required']]);
    assert.deepEqual([errorOf(await retract("<item id='a'/>", ''))].map((e) => [e.condition, e.app]), [['bad-request', 'nodeid-required']]);
    assert.deepEqual([errorOf(await retract("<item id='zzz'/>"))].map((e) => [e.type, e.condition]), [['cancel', 'item-not-found']]);
    assert.deepEqual([errorOf(await retract("<item id='a'/>", "node='nonexistent'"))].map((e) => e.condition), ['item-not-found']);
    assert.deepEqual([errorOf(await retract("<item id='a'/>", undefined, FRANCISCO))].map((e) => [e.type, e.condition]), [['auth', 'forbidden']]);
    assert.equal(errorOf(await retract("<item id='a'/>", "node='princely_musings' notify='maybe'")).condition, 'bad-request');
    const ok = await retract("<item id='a'/>", "node='princely_musings' notify='true'");
    assert.equal(ok.attrs.type, 'result');
  });
});

describe('requests the service does not implement', () => {
  test('feature-not-implemented with <unsupported feature/> (XEP-0060 §7.1.3.4 style)', async () => {
    const { send } = setup();
    const cases: Array<[string, string, string]> = [
      ['get', `<options node='n' jid='${FRANCISCO}'/>`, 'subscription-options'],
      ['get', `<default/>`, 'retrieve-default-sub'],
    ];
    for (const [type, body, feature] of cases) {
      const reply = await send(`<iq type='${type}' from='${HAMLET}/x' to='${HAMLET}' id='u'><pubsub xmlns='${NS_PUBSUB}'>${body}</pubsub></iq>`);
      assert.deepEqual(errorOf(reply), { type: 'cancel', condition: 'feature-not-implemented', app: 'unsupported', feature, text: undefined }, body);
    }
    const owner = (type: string, body: string) =>
      send(`<iq type='${type}' from='${HAMLET}/x' to='${HAMLET}' id='o'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>${body}</pubsub></iq>`);
    assert.equal(errorOf(await owner('get', '<frobnicate/>')).condition, 'bad-request');
  });

  test('malformed requests are bad-request', async () => {
    const { send } = setup();
    const bad = [
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'/></iq>`,
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'><frobnicate/></pubsub></iq>`,
      `<iq type='get' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'><constructor/></pubsub></iq>`,
      `<iq type='get' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><toString/></pubsub></iq>`,
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='b'><query xmlns='urn:other'/></iq>`,
      `<iq type='result' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'><items node='n'/></pubsub></iq>`,
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'><publish node='n'><item><a xmlns='urn:a'/></item></publish><retract node='n'><item id='x'/></retract></pubsub></iq>`,
      `<iq type='set' from='${HAMLET}/x' to='${HAMLET}' id='b'><pubsub xmlns='${NS_PUBSUB}'><publish node='n'><item><a xmlns='urn:a'/></item><item><b xmlns='urn:b'/></item></publish></pubsub></iq>`,
    ];
    for (const stanza of bad) assert.equal(errorOf(await send(stanza)).condition, 'bad-request', stanza);
  });
});

describe('failures', () => {
  test('a storage failure is internal-server-error; the cause stays in the log', async () => {
    const real = createMemoryPubsubStorage();
    const broken: PubsubStorage = {
      ...real,
      withTransaction: async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.7:5432');
      },
    };
    const { send, errors } = setup({ storage: broken });
    const reply = await send(publishIq({ id: 'x1' }));
    assert.deepEqual(errorOf(reply), { type: 'cancel', condition: 'internal-server-error', app: undefined, feature: undefined, text: undefined });
    assert.equal(reply.attrs.id, 'x1');
    assert.doesNotMatch(reply.toString(), /ECONNREFUSED/);
    assert.equal(errors.length, 1);
  });

  test('every engine error name has a row in the error table', () => {
    for (const name of PUBSUB_ERRORS) assert.ok(PUBSUB_ERROR_TABLE[name], name);
  });
});

describe('service discovery data', () => {
  test('PEP identity and the features implemented', () => {
    assert.deepEqual({ ...PEP_IDENTITY }, { category: 'pubsub', type: 'pep' });
    for (const f of ['publish', 'auto-create', 'retrieve-items', 'retract-items', 'persistent-items', 'item-ids', 'publish-options']) {
      assert.ok(FEATURES.includes(`${NS_PUBSUB}#${f}`), f);
    }
    assert.ok(FEATURES.includes(`${NS_PUBSUB}#subscribe`));
    assert.ok(!FEATURES.includes(`${NS_PUBSUB}#subscription-options`));
    assert.ok(!FEATURES.includes(`${NS_PUBSUB}#instant-nodes`));
  });
});
