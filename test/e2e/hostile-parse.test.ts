import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import type { Client } from '../harness/xmpp-client';
import { iq } from '../harness/xmpp-client';
import type { PepClient } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { eventually } from '../harness/wait';
import { itemsIq, publishIq, resultItemIds } from '../harness/pubsub-iq';

// The stanzas of issue 9 through a real Prosody 0.12: a publish nesting 8,000 levels (it used to end the
// broker with a stack overflow) and other over-limit payloads get one error each; the broker stays up and
// the next requests on the same component stream are served.
const NODE = 'urn:example:deep';
const PUBSUB = 'http://jabber.org/protocol/pubsub';

let sc: PepScenario;
let alice: PepClient;
let seq = 0;

before(async () => {
  sc = await startPepScenario({ users: ['alice'] });
  alice = await sc.pep('alice', 'phone', []);
});

after(async () => {
  await sc?.stop();
});

/** Sends raw XML (ltx's recursive serialisation cannot even write an 8,000-deep tree) and waits for the answer. */
function rawIq(c: Client, body: string, timeoutMs = 15_000): Promise<Element> {
  const id = `raw-${++seq}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.removeListener('stanza', onStanza);
      reject(new Error(`no answer to ${id} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onStanza = (el: Element) => {
      if (el.name !== 'iq' || el.attrs.id !== id) return;
      clearTimeout(timer);
      c.removeListener('stanza', onStanza);
      resolve(el);
    };
    c.on('stanza', onStanza);
    void c.write(`<iq type='set' id='${id}'><pubsub xmlns='${PUBSUB}'><publish node='${NODE}'><item id='bad'>${body}</item></publish></pubsub></iq>`);
  });
}

function condition(el: Element): string | undefined {
  return el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas')?.name;
}

test('an 8,000-deep publish and 50,000 siblings: one error each, the broker lives on and serves the next publish', async () => {
  const deep = await rawIq(alice.client, `<x xmlns='urn:example'>${'<a>'.repeat(8000)}${'</a>'.repeat(8000)}</x>`);
  assert.equal(deep.attrs.type, 'error', deep.toString());
  assert.equal(condition(deep), 'not-acceptable');
  assert.ok(deep.getChild('error')?.getChild('payload-too-big', 'http://jabber.org/protocol/pubsub#errors'));

  const wide = await rawIq(alice.client, `<x xmlns='urn:example'>${'<s/>'.repeat(50_000)}</x>`);
  assert.equal(wide.attrs.type, 'error', wide.toString());
  assert.equal(condition(wide), 'not-acceptable');

  await iq(alice.client, publishIq(NODE, 'good', xml('x', { xmlns: 'urn:example' }, 'fine')));
  assert.deepEqual(resultItemIds(await iq(alice.client, itemsIq(NODE))), ['good']);
  const rejected = await eventually(async () => {
    const rows = await sc.sqlRows(`select payload from events where type = 'request.rejected'`);
    return rows.length >= 2 ? rows : undefined;
  }, 10_000, 'request.rejected events');
  assert.ok(rejected.some((r) => String(r.payload.reason).startsWith('too-deep')), JSON.stringify(rejected));
  assert.ok(rejected.some((r) => String(r.payload.reason).startsWith('too-many-elements')), JSON.stringify(rejected));
  for (const [name, port] of Object.entries(sc.stack.httpPorts)) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200, `${name} /healthz`);
  }
});
