import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import xml, { type Element } from '@xmpp/xml';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { connectClient, iq, closeAll, type Client, expectStanzaError } from '../harness/xmpp-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { mamQuery } from '../harness/mam-query';
import { eventually, sleep, sqlRows as sqlRowsOf } from '../harness/wait';

// MAM on PEP nodes end to end (XEP-0313 + XEP-0442): real Prosody 0.12 delegating urn:xmpp:mam:2 with
// filtering on `node` and granting message privileges, our services as separate processes (projector,
// pep, mam, ingress), real NATS and Postgres, real clients. Results must reach the client as messages
// from the archive's JID, all of them before the IQ result that carries <fin/>.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const MAM = 'urn:xmpp:mam:2';
const NODE = 'urn:xmpp:e2e:mam-open';
const PRIVATE_NODE = 'urn:xmpp:e2e:mam-private';
const PW = 'pw';
const ITEMS = 25;
const RETRACTED = ['i3', 'i7', 'i20'];

let prosody: ProsodyHandle;
let stack: BrokerStack;
let db: TempDatabase;
let sql: import('pg').Pool;
let alice: Client;
let bob: Client;
let mallory: Client;
/** Stamps taken between alice's publishes: i11..i20 lie between them. */
let windowStart: Date;
let windowEnd: Date;



const sqlRows = (text: string, values: unknown[] = []) => sqlRowsOf(sql, text, values);

function publishIq(node: string, itemId: string, options?: Record<string, string>) {
  const children: Element[] = [xml('publish', { node }, xml('item', { id: itemId }, xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, `post ${itemId}`))))];
  if (options) {
    children.push(
      xml('publish-options', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
        ...Object.entries(options).map(([k, v]) => xml('field', { var: `pubsub#${k}` }, xml('value', {}, v))))),
    );
  }
  return xml('iq', { type: 'set' }, xml('pubsub', { xmlns: PUBSUB }, ...children));
}


const expectError = (p: Promise<unknown>, condition: string) => expectStanzaError(p, condition);

const EXPECTED = [...Array.from({ length: ITEMS }, (_, i) => `item:i${i + 1}`), ...RETRACTED.map((id) => `retract:${id}`)];

before(async () => {
  prosody = await startProsody({ users: [{ user: 'alice', password: PW }, { user: 'bob', password: PW }, { user: 'mallory', password: PW }] });
  db = await createTempDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
  stack = await startBrokerStack({ prosody, mode: 'separate', databaseUrl: db.url });
  await eventually(async () => (await sqlRows('select 1 from grants where namespace = $1', [MAM])).length > 0, 15_000, 'mam grant');
  await eventually(async () => (await sqlRows('select 1 from grants where namespace = $1', [PUBSUB])).length > 0, 15_000, 'pubsub grant');
  const login = (user: string) => connectClient({ port: prosody.c2sPort, user, password: PW });
  [alice, bob, mallory] = await Promise.all([login('alice'), login('bob'), login('mallory')]);

  // alice's archive: 25 publishes on an open node (a time window around i11..i20), then 3 retracts
  await iq(alice, publishIq(NODE, 'i1', { access_model: 'open', max_items: 'max' }));
  for (let i = 2; i <= ITEMS; i++) {
    if (i === 11) {
      await sleep(60);
      windowStart = new Date();
      await sleep(60);
    }
    await iq(alice, publishIq(NODE, `i${i}`));
    if (i === 20) {
      await sleep(60);
      windowEnd = new Date();
      await sleep(60);
    }
  }
  for (const id of RETRACTED) await iq(alice, xml('iq', { type: 'set' }, xml('pubsub', { xmlns: PUBSUB }, xml('retract', { node: NODE }, xml('item', { id })))));
  await iq(alice, publishIq(PRIVATE_NODE, 'secret')); // default access model: presence
});

after(async () => {
  await closeAll([alice, bob, mallory].filter(Boolean));
  await stack?.stop();
  await sql?.end();
  await db?.drop();
  await prosody?.stop();
});

test('bob pages forward (max/after): every entry once, in log order, results before each IQ result', async () => {
  // the privilege advertisement may still be on its way right after start-up: the first query may need a retry
  const first = await eventually(() => mamQuery(bob, 'alice@localhost', NODE, { max: 7 }).catch(() => null), 10_000, 'a first MAM answer');
  const entries = [...first.entries];
  const ids = [...first.ids];
  assert.equal(first.fin.count, EXPECTED.length);
  assert.equal(first.fin.index, '0');
  let page = first;
  let pages = 1;
  while (page.fin.complete !== 'true') {
    assert.equal(page.fin.complete, 'false');
    assert.equal(page.fin.last, page.ids.at(-1));
    page = await mamQuery(bob, 'alice@localhost', NODE, { max: 7, after: page.fin.last! });
    assert.equal(page.fin.index, String(pages * 7));
    entries.push(...page.entries);
    ids.push(...page.ids);
    pages++;
    assert.ok(pages <= 10, 'terminates');
  }
  assert.equal(pages, 4);
  assert.deepEqual(entries, EXPECTED);
  assert.equal(new Set(ids).size, ids.length, 'archive ids are unique');
  // payload and delay are there
  const m = first.messages[0]!.getChild('result', MAM)!.getChild('forwarded', 'urn:xmpp:forward:0')!;
  assert.match(m.getChild('delay', 'urn:xmpp:delay')!.attrs.stamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(m.getChild('message')!.getChild('event')!.getChild('items')!.getChild('item')!.getChild('entry', 'http://www.w3.org/2005/Atom')!.getChildText('title'), 'post i1');
});

test('bob pages backward (empty before, then before=first): the same entries, newest page first', async () => {
  const pages: string[][] = [];
  let before = '';
  for (;;) {
    const page = await mamQuery(bob, 'alice@localhost', NODE, { max: 10, before });
    pages.push(page.entries);
    assert.equal(page.fin.count, EXPECTED.length);
    assert.equal(Number(page.fin.index), EXPECTED.length - pages.flat().length);
    if (page.fin.complete === 'true') break;
    before = page.fin.first!;
    assert.ok(pages.length <= 5);
  }
  assert.deepEqual(pages.map((p) => p.length), [10, 10, 8]);
  assert.deepEqual(pages.reverse().flat(), EXPECTED);
  // flip-page: the same page, sent newest first
  const flipped = await mamQuery(bob, 'alice@localhost', NODE, { max: 5, before: '', flip: true });
  assert.deepEqual(flipped.entries, EXPECTED.slice(-5).reverse());
});

test('filters by time (start/end), and by archive ids', async () => {
  const window = await mamQuery(bob, 'alice@localhost', NODE, { fields: { start: windowStart.toISOString(), end: windowEnd.toISOString() } });
  assert.deepEqual(window.entries, Array.from({ length: 10 }, (_, i) => `item:i${i + 11}`));
  assert.equal(window.fin.complete, 'true');
  assert.equal(window.fin.count, 10);
  const since = await mamQuery(bob, 'alice@localhost', NODE, { fields: { start: windowEnd.toISOString() }, max: 100 });
  assert.deepEqual(since.entries, [...['i21', 'i22', 'i23', 'i24', 'i25'].map((i) => `item:${i}`), ...RETRACTED.map((id) => `retract:${id}`)]);
  const byId = await mamQuery(bob, 'alice@localhost', NODE, { fields: { ids: window.ids[3]! } });
  assert.deepEqual(byId.entries, ['item:i14']);
  await expectError(mamQuery(bob, 'alice@localhost', NODE, { after: '999999999' }), 'item-not-found');
  await expectError(mamQuery(bob, 'alice@localhost', NODE, { fields: { start: 'yesterday' } }), 'bad-request');
});

test('a stranger is refused on a non-open node; the owner reads it', async () => {
  await expectError(mamQuery(mallory, 'alice@localhost', PRIVATE_NODE), 'item-not-found');
  await expectError(mamQuery(bob, 'alice@localhost', PRIVATE_NODE), 'item-not-found');
  const own = await mamQuery(alice, 'alice@localhost', PRIVATE_NODE);
  assert.deepEqual(own.entries, ['item:secret']);
  await expectError(mamQuery(bob, 'alice@localhost', 'urn:xmpp:e2e:no-such-node'), 'item-not-found');
});

test('a MAM query without node is not delegated: Prosody answers it, the broker never sees it', async () => {
  const err = await expectError(mamQuery(bob, 'alice@localhost', undefined), 'service-unavailable');
  const id = err.stanza.attrs.id;
  // what Prosody (no mod_mam) answers itself: a bare service-unavailable, without our text
  assert.equal(err.stanza.attrs.from, 'alice@localhost');
  assert.equal(err.text, undefined, 'not the broker\'s answer (it would carry a text)');
  // our own MAM requests are audited (worker mam@...), this one never reached the component
  const ours = await eventually(async () => {
    const r = await sqlRows(`select * from audit_log where namespace = $1 and outcome <> 'pending'`, [MAM]);
    return r.length > 0 ? r : null;
  }, 10_000, 'audit rows of mam requests');
  assert.ok(ours.every((r) => /^mam@/.test(r.worker) || r.outcome === 'error'));
  assert.ok(ours.some((r) => /^mam@/.test(r.worker)));
  await sleep(500);
  assert.equal((await sqlRows(`select 1 from audit_log where iq_id = $1`, [id])).length, 0);
});

test('disco: the mam worker announces urn:xmpp:mam:2 and #extended; Prosody merges them into the account (disco nesting)', async () => {
  // The worker kind's answer on its features subject (what the ingress asks for `:bare:urn:xmpp:mam:2`).
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: stack.natsUrl });
  try {
    const mam2 = JSON.parse((await nc.request('xmpp.features.mam', '', { timeout: 2000 })).string());
    assert.deepEqual(mam2, { identities: [], features: [MAM, `${MAM}#extended`] });
    const mam1 = JSON.parse((await nc.request('xmpp.features.mam1', '', { timeout: 2000 })).string());
    assert.deepEqual(mam1, { identities: [], features: ['urn:xmpp:mam:1'] });
  } finally {
    await nc.close();
  }
  // Prosody asked for them when the component first connected (the stack starts the ingress after the workers).
  // Prosody's mod_disco answers account disco#info only to the account itself (no `to`) and to presence
  // subscribers; mod_delegation adds the features the component answered for `:bare:<namespace>`.
  const res = await iq(alice, xml('iq', { type: 'get' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  const features = res.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
  assert.ok(features.includes(MAM), res.toString());
  assert.ok(features.includes(`${MAM}#extended`), res.toString());
  assert.ok(features.includes(`${PUBSUB}#publish`), 'the PEP worker kind\'s features are merged alongside');
});
