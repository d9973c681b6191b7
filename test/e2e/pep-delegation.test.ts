import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import xml, { type Element } from '@xmpp/xml';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { connectClient, iq, closeAll, type Client, expectStanzaError } from '../harness/xmpp-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { startOtlpCollector, type OtlpCollector } from '../harness/otlp-collector';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { eventually, sqlRows as sqlRowsOf } from '../harness/wait';

// The delegated request path end to end: real Prosody 0.12 + mod_delegation, our services as separate
// processes, real NATS, real Postgres, real XMPP clients.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const REQUEST_TIMEOUT_MS = 1500;
const PW = 'pw';

let prosody: ProsodyHandle;
let stack: BrokerStack;
let otlp: OtlpCollector;
let db: TempDatabase;
let sql: import('pg').Pool;
let alice: Client;
let bob: Client;
let mallory: Client;

before(async () => {
  prosody = await startProsody({ users: [{ user: 'alice', password: PW }, { user: 'bob', password: PW }, { user: 'mallory', password: PW }] });
  otlp = await startOtlpCollector();
  db = await createTempDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
  stack = await startBrokerStack({ prosody, mode: 'separate', databaseUrl: db.url, requestTimeoutMs: REQUEST_TIMEOUT_MS, otlpUrl: otlp.url });
  await waitForGrant(PUBSUB);
  const login = (user: string) => connectClient({ port: prosody.c2sPort, user, password: PW });
  [alice, bob, mallory] = await Promise.all([login('alice'), login('bob'), login('mallory')]);
});

after(async () => {
  await closeAll([alice, bob, mallory].filter(Boolean));
  await stack?.stop();
  await sql?.end();
  await db?.drop();
  await otlp?.stop();
  await prosody?.stop();
});



async function waitForGrant(namespace: string) {
  await eventually(async () => (await sqlRows('select 1 from grants where namespace = $1', [namespace])).length > 0, 15_000, `grant ${namespace}`);
}

const sqlRows = (text: string, values: unknown[] = []) => sqlRowsOf(sql, text, values);

function publishIq(node: string, itemId: string | undefined, payload: Element, to?: string, options?: Record<string, string>) {
  const children: Element[] = [xml('publish', { node }, xml('item', itemId ? { id: itemId } : {}, payload))];
  if (options) {
    children.push(
      xml('publish-options', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
        ...Object.entries(options).map(([k, v]) => xml('field', { var: `pubsub#${k}` }, xml('value', {}, v))))),
    );
  }
  return xml('iq', { type: 'set', id: `pub-${Math.random().toString(36).slice(2)}`, ...(to ? { to } : {}) }, xml('pubsub', { xmlns: PUBSUB }, ...children));
}

function itemsIq(to: string | undefined, node: string, extra: { max?: number; ids?: string[] } = {}) {
  return xml('iq', { type: 'get', id: `get-${Math.random().toString(36).slice(2)}`, ...(to ? { to } : {}) },
    xml('pubsub', { xmlns: PUBSUB }, xml('items', { node, ...(extra.max ? { max_items: String(extra.max) } : {}) }, ...(extra.ids ?? []).map((id) => xml('item', { id })))));
}

const tune = (title: string) => xml('tune', { xmlns: 'http://jabber.org/protocol/tune' }, xml('title', {}, title));
const itemIds = (res: Element) => res.getChild('pubsub', PUBSUB)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id);

const expectError = (p: Promise<unknown>, condition: string, boundMs = REQUEST_TIMEOUT_MS + 1000) => expectStanzaError(p, condition, boundMs);

test('a user publishes to their own PEP node and reads it back through delegation, with and without `to`', async () => {
  const res = await iq(alice, publishIq('http://jabber.org/protocol/tune', 'song1', tune('first'), 'alice@localhost'));
  assert.equal(res.attrs.type, 'result');
  assert.equal(res.getChild('pubsub', PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id, 'song1');
  // Without `to` (Prosody forwards it without one; the broker fills the requester's bare JID) and without an item id.
  const res2 = await iq(alice, publishIq('http://jabber.org/protocol/tune', undefined, tune('second')));
  const generated = res2.getChild('pubsub', PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id;
  assert.ok(generated, 'a generated item id is returned');
  const got = await iq(alice, itemsIq(undefined, 'http://jabber.org/protocol/tune'));
  // Default max_items is 1: the newest item replaced the first.
  assert.deepEqual(itemIds(got), [generated]);
  const byTo = await iq(alice, itemsIq('alice@localhost', 'http://jabber.org/protocol/tune'));
  assert.equal(byTo.getChild('pubsub', PUBSUB)!.getChild('items')!.getChild('item')!.getChild('tune')!.getChildText('title'), 'second');
});

test('another user reads an open node; a presence node is refused to a stranger; retract works', async () => {
  const node = 'urn:xmpp:e2e:open';
  await iq(alice, publishIq(node, 'a', tune('A'), undefined, { access_model: 'open', max_items: '10' }));
  await iq(alice, publishIq(node, 'b', tune('B')));
  const fromBob = await iq(bob, itemsIq('alice@localhost', node));
  assert.deepEqual(itemIds(fromBob), ['a', 'b']);
  const newest = await iq(bob, itemsIq('alice@localhost', node, { max: 1 }));
  assert.deepEqual(itemIds(newest), ['b']);
  const byId = await iq(bob, itemsIq('alice@localhost', node, { ids: ['a'] }));
  assert.deepEqual(itemIds(byId), ['a']);

  await expectError(iq(bob, publishIq(node, 'x', tune('hijack'), 'alice@localhost')), 'forbidden');
  await iq(alice, publishIq('urn:xmpp:e2e:private', 'p', tune('P')));
  const denied = await expectError(iq(bob, itemsIq('alice@localhost', 'urn:xmpp:e2e:private')), 'item-not-found');
  assert.equal(denied.stanza.getChild('error')!.getChildElements().length, 1, 'a node bob may not read looks missing: no pubsub condition');

  await iq(alice, xml('iq', { type: 'set', id: 'retract1' }, xml('pubsub', { xmlns: PUBSUB }, xml('retract', { node }, xml('item', { id: 'a' })))));
  assert.deepEqual(itemIds(await iq(bob, itemsIq('alice@localhost', node))), ['b']);
  await expectError(iq(bob, itemsIq('alice@localhost', 'urn:xmpp:e2e:nothing-here')), 'item-not-found');
  await expectError(iq(alice, xml('iq', { type: 'set', id: 'retract2' }, xml('pubsub', { xmlns: PUBSUB }, xml('retract', { node }, xml('item', { id: 'a' }))))), 'item-not-found');
});

test('audit_log has one row per delegated request matching what happened, and the node log holds every change', async () => {
  const rows = await eventually(async () => {
    const r = await sqlRows(`select * from audit_log where requester like 'bob@localhost/%' and namespace = $1 order by received_at`, [PUBSUB]);
    return r.length >= 7 && r.every((x) => x.outcome !== 'pending') ? r : null;
  }, 15_000, 'audit rows for bob');
  for (const r of rows) {
    assert.equal(r.target, 'alice@localhost');
    assert.equal(r.server, 'localhost');
    assert.equal(r.component, 'pubsub.localhost');
    assert.match(r.trace_id, /^[0-9a-f]{32}$/);
    assert.ok(r.latency_ms >= 0 && r.latency_ms < REQUEST_TIMEOUT_MS);
    assert.match(r.worker, /^pep@/);
    assert.ok(r.received_at && r.answered_at);
  }
  const outcomes = rows.map((r) => `${r.iq_type}:${r.outcome}:${r.condition ?? ''}`);
  assert.deepEqual(outcomes, ['get:result:', 'get:result:', 'get:result:', 'set:error:forbidden', 'get:error:item-not-found', 'get:result:', 'get:error:item-not-found']);
  const aliceRows = await sqlRows(`select * from audit_log where requester like 'alice@localhost/%'`);
  assert.ok(aliceRows.length >= 8);
  const events = await sqlRows(`select e.kind, e.item_id from pubsub_node_events e join pubsub_nodes n on n.id = e.node_id where n.service = 'alice@localhost' and n.node = 'urn:xmpp:e2e:open' order by e.seq`);
  assert.deepEqual(events.map((e) => `${e.kind}:${e.item_id}`), ['publish:a', 'publish:b', 'retract:a']);
});

test('the spans of one request share one trace id from the ingress through NATS and the worker to SQL', async () => {
  const res = await iq(alice, publishIq('urn:xmpp:e2e:traced', 't1', tune('traced')));
  assert.equal(res.attrs.type, 'result');
  const row = await eventually(async () => (await sqlRows(`select * from audit_log where requester like 'alice@localhost/%' and iq_id = $1 and outcome <> 'pending'`, [res.attrs.id]))[0], 10_000, 'audit row');
  const traceId = row.trace_id as string;
  const spans = await otlp.waitUntil((all) => {
    const t = all.filter((s) => s.traceId === traceId);
    return t.some((s) => s.service === 'dbroker-ingress') && t.some((s) => s.service === 'dbroker-pep' && s.kindName === 'consumer') && t.some((s) => /^pg\.query/.test(s.name));
  }, 15_000);
  const trace = spans.filter((s) => s.traceId === traceId);
  const root = trace.find((s) => s.service === 'dbroker-ingress' && s.kindName === 'server')!;
  const worker = trace.find((s) => s.service === 'dbroker-pep' && s.kindName === 'consumer')!;
  assert.ok(root && worker);
  assert.equal(worker.parentSpanId, root.spanId, 'the worker span is a child of the ingress span (context carried in NATS headers)');
  // the notification work for the publish runs after the reply, under its own span in the same trace
  const notify = (await otlp.waitUntil((all) => all.some((s) => s.traceId === traceId && s.name === 'pep notify'), 15_000)).find((s) => s.traceId === traceId && s.name === 'pep notify')!;
  assert.equal(notify.parentSpanId, worker.spanId, 'the notification span is a child of the worker span');
  const queries = trace.filter((s) => /^pg\.query/.test(s.name));
  assert.ok(queries.length >= 2, 'SQL spans of the publish');
  assert.ok(queries.every((q) => q.service === 'dbroker-pep'));
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  for (const q of queries) {
    let p = q.parentSpanId ? byId.get(q.parentSpanId) : undefined;
    while (p && p !== worker) p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined;
    assert.equal(p, worker, 'every SQL span descends from the worker span');
  }
});

test('a namespace the server does not delegate never reaches the broker; forged delegations and grants are refused and audited', async () => {
  const before = (await sqlRows('select count(*)::int as n from audit_log'))[0]!.n as number;
  // Not delegated: Prosody answers by itself at once.
  await expectError(iq(alice, xml('iq', { type: 'get', id: 'nd1', to: 'alice@localhost' }, xml('query', { xmlns: 'urn:xmpp:e2e:not-delegated' }))), 'service-unavailable', 2000);
  // A user forging a forwarded IQ to the component, pretending to be the server on behalf of alice.
  const forged = xml('iq', { type: 'set', id: 'forge1', to: 'pubsub.localhost' }, xml('delegation', { xmlns: 'urn:xmpp:delegation:2' }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' },
    xml('iq', { xmlns: 'jabber:client', type: 'set', id: 'inner', from: 'alice@localhost/x', to: 'alice@localhost' }, xml('pubsub', { xmlns: PUBSUB }, xml('retract', { node: 'urn:xmpp:e2e:open' }, xml('item', { id: 'b' })))))));
  await expectError(iq(mallory, forged), 'forbidden', 2000);
  // A user forging a grant advertisement.
  await mallory.send(xml('message', { to: 'pubsub.localhost' }, xml('delegation', { xmlns: 'urn:xmpp:delegation:2' }, xml('delegated', { namespace: 'jabber:iq:roster' }))));
  await eventually(async () => (await sqlRows(`select 1 from events where type = 'advertisement.rejected' and payload->>'from' like 'mallory@localhost/%'`)).length > 0, 10_000, 'advertisement.rejected event');
  await eventually(async () => (await sqlRows(`select 1 from audit_log where outcome = 'rejected' and requester like 'mallory@localhost/%' and condition = 'forbidden'`)).length > 0, 10_000, 'rejected audit row');
  assert.equal((await sqlRows(`select 1 from grants where namespace = 'jabber:iq:roster'`)).length, 0);
  // Nothing was applied: b is still there.
  assert.deepEqual(itemIds(await iq(bob, itemsIq('alice@localhost', 'urn:xmpp:e2e:open'))), ['b']);
  const after = (await sqlRows(`select count(*)::int as n from audit_log where outcome <> 'rejected'`))[0]!.n as number;
  assert.ok(after <= before + 1, 'the undelegated namespace left no request row');
});

test('no worker running: service-unavailable within the bound, audited; the worker comes back', async () => {
  await stack.kill('pep', 'SIGTERM');
  const err = await expectError(iq(alice, itemsIq(undefined, 'http://jabber.org/protocol/tune')), 'service-unavailable');
  assert.ok(err);
  await eventually(async () => (await sqlRows(`select 1 from audit_log where iq_id = $1 and outcome = 'error' and condition = 'service-unavailable' and reason like 'no worker%'`, [err.stanza.attrs.id])).length > 0, 10_000, 'audit row of the unserved request');
  await stack.restart('pep');
  assert.equal((await iq(alice, itemsIq(undefined, 'http://jabber.org/protocol/tune'))).attrs.type, 'result');
});

test('a worker killed while it holds a request: internal-server-error within the bound, nothing applied twice', async () => {
  const node = 'urn:xmpp:e2e:killed';
  await iq(alice, publishIq(node, 'k0', tune('k0'), undefined, { max_items: '10' }));
  // Hold the node row so the worker blocks inside its transaction, then kill it.
  const holder = await sql.connect();
  await holder.query('begin');
  await holder.query(`select 1 from pubsub_nodes where service = 'alice@localhost' and node = $1 for update`, [node]);
  const pending = iq(alice, publishIq(node, 'k1', tune('k1')), REQUEST_TIMEOUT_MS + 3000);
  await eventually(async () => (await sqlRows(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)).length > 0, 5000, 'worker blocked on the node lock');
  await stack.kill('pep', 'SIGKILL');
  await expectError(pending, 'internal-server-error', REQUEST_TIMEOUT_MS + 1500);
  await holder.query('rollback');
  holder.release();
  await stack.restart('pep');
  const items = itemIds(await iq(alice, itemsIq(undefined, node)));
  assert.deepEqual(items, ['k0'], 'the killed publish was not applied');
  await iq(alice, publishIq(node, 'k1', tune('k1')));
  const log = await sqlRows(`select e.item_id from pubsub_node_events e join pubsub_nodes n on n.id = e.node_id where n.service = 'alice@localhost' and n.node = $1 order by e.seq`, [node]);
  assert.deepEqual(log.map((r) => r.item_id), ['k0', 'k1']);
});

test('a worker that answers garbage: internal-server-error, never silence', async () => {
  const { connect } = await import('@nats-io/transport-node');
  await stack.kill('pep', 'SIGTERM');
  const nc = await connect({ servers: stack.natsUrl });
  const answers = ['{"v":1}', 'garbage', JSON.stringify({ v: 1, requestId: 'x', worker: 'evil', stanza: '<iq/>' })];
  let n = 0;
  const sub = nc.subscribe('xmpp.req.*.pubsub', { queue: 'pep', callback: (_e, m) => void m.respond(answers[n++ % answers.length]!) });
  await nc.flush();
  try {
    for (let i = 0; i < answers.length; i++) await expectError(iq(alice, itemsIq(undefined, 'http://jabber.org/protocol/tune')), 'internal-server-error');
  } finally {
    sub.unsubscribe();
    await nc.close();
    await stack.restart('pep');
  }
  const rows = await eventually(async () => {
    const r = await sqlRows(`select reason from audit_log where condition = 'internal-server-error' and reason like 'invalid reply%'`);
    return r.length >= 3 ? r : null;
  }, 10_000, 'audit rows of the garbage replies');
  assert.ok(rows.length >= 3);
});
