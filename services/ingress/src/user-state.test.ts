import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import {
  decodePresence,
  encodeStateEnvelope,
  requestIq,
  type AuditEvent,
  type Bus,
  type IqRequestEnvelope,
  type IqResponseEnvelope,
  type PresenceEnvelope,
} from '@dbroker/bus';
import { PRIVILEGE_NS_1, PRIVILEGE_NS_2, parseXml } from '@dbroker/protocol';
import { createMetrics, type Metrics } from '@dbroker/telemetry';
import type { FakeXmppServer } from '../../../test/harness/fake-xmpp-server';
import type { Ingress } from './app';
import { COMPONENT, SERVER, startIngressFixture, until, type IngressFixture } from './test-fixture';
import { createIngressMetrics } from './metrics';
import { createPresenceForwarder } from './presence-forwarder';
import { PrivilegeState } from './privileges';

// Shared user state, ingress side, against a scripted XEP-0114 server: presences the server sends become
// PresenceEnvelopes on NATS; worker IQs (roster get, caps disco#info) are sent, matched and answered once;
// the protocol versions of each stream are reported once.
const CAPS = 'http://jabber.org/protocol/caps';
const DLG1 = 'urn:xmpp:delegation:1';
const DLG2 = 'urn:xmpp:delegation:2';


let fx: IngressFixture;
let fake: FakeXmppServer;
let ingress: Ingress;
let bus: Bus;
let metrics: Metrics;
let audit: AuditEvent[];
const presences: PresenceEnvelope[] = [];

before(async () => {
  fx = await startIngressFixture('user-state-test');
  ({ fake, bus, ingress, metrics, audit } = fx);
  bus.nc.subscribe('xmpp.presence.>', {
    callback: (_e, m) => {
      const d = decodePresence(m.data);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      presences.push(d.value);
    },
  });
  await bus.nc.flush();
  await subscribed();
});

after(async () => {
  await fx?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ask = (env: IqRequestEnvelope, natsTimeoutMs = env.timeoutMs + 2000): Promise<IqResponseEnvelope> => requestIq(bus.nc, ingress.iqSubject, env, natsTimeoutMs);
const roster = (to: string, o: Partial<IqRequestEnvelope> = {}): IqRequestEnvelope => ({ v: 1, kind: 'roster-get', to, worker: 'pep-test', timeoutMs: 3000, ...o }) as IqRequestEnvelope;
const disco = (to: string, node?: string, timeoutMs = 3000): IqRequestEnvelope => ({ v: 1, kind: 'disco-info', to, worker: 'pep-test', timeoutMs, ...(node ? { node } : {}) });

/** Waits until the ingress takes the IQ subject (it does so once the link is online). */
async function subscribed(): Promise<void> {
  await until(() => ingress.isReady(), 10_000, 'link online');
  const t0 = Date.now();
  for (;;) {
    const res = await ask(disco('probe@elsewhere'), 1000);
    if (res.ok || res.error !== 'offline') return;
    if (Date.now() - t0 > 5000) throw new Error('the ingress did not subscribe the iq subject');
    await sleep(20);
  }
}

function advertisePrivileges(version: string, perms: Array<[string, string]>) {
  fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('privilege', { xmlns: version }, ...perms.map(([access, type]) => xml('perm', { access, type })))));
}

function advertiseDelegation(version: string, namespaces: string[]) {
  fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('delegation', { xmlns: version }, ...namespaces.map((ns) => xml('delegated', { namespace: ns })))));
}

function refusal(res: IqResponseEnvelope, error: string, pattern?: RegExp) {
  assert.equal(res.ok, false, JSON.stringify(res));
  if (res.ok) return;
  assert.equal(res.error, error, res.reason);
  if (pattern) assert.match(res.reason, pattern);
}

const sentIqs = () => fake.received.filter((e) => e.name === 'iq' && e.attrs.type === 'get' && e.attrs.from === COMPONENT);
const sentTo = (to: string, ns: string) => fake.waitFor((e) => e.name === 'iq' && e.attrs.type === 'get' && e.attrs.to === to && !!e.getChild('query', ns) && !answered.has(e.attrs.id!));
const answered = new Set<string>();
function answer(req: Element, attrs: Record<string, string>, ...children: Element[]) {
  answered.add(req.attrs.id!);
  fake.send(xml('iq', { to: COMPONENT, id: req.attrs.id!, type: 'result', ...attrs }, ...children));
}

async function metricValue(name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('presences: local full JIDs are forwarded (caps, delay); other types ignored; strangers dropped', async () => {
  const n = presences.length;
  fake.send(`<presence from='alice@localhost/phone' to='${COMPONENT}' xml:lang='en'><c xmlns='${CAPS}' hash='sha-1' node='https://y' ver='ALICEVER='/></presence>`);
  fake.send(`<presence from='bob@localhost/early' to='${COMPONENT}'><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-11-24T05:08:54Z'/></presence>`);
  fake.send(`<presence from='alice@localhost/phone' to='${COMPONENT}' type='subscribe'/>`);
  fake.send(`<presence from='alice@localhost' to='${COMPONENT}'/>`);
  fake.send(`<presence from='localhost' to='${COMPONENT}'/>`);
  fake.send(`<presence from='mallory@evil.example/x' to='${COMPONENT}'/>`);
  fake.send(`<presence from='alice@localhost/phone' to='${COMPONENT}'><c xmlns='${CAPS}' node='https://y' ver='${'V'.repeat(5000)}' hash='sha-1'/></presence>`);
  fake.send(`<presence from='alice@localhost/phone' to='${COMPONENT}' type='unavailable'/>`);
  await until(() => presences.length >= n + 4, 5000, '4 presences on NATS');
  await sleep(100);
  const got = presences.slice(n);
  assert.equal(got.length, 4, JSON.stringify(got));
  for (const p of got) {
    assert.equal(p.server, SERVER);
    assert.ok(!Number.isNaN(Date.parse(p.receivedAt)));
  }
  assert.deepEqual(got.map(({ receivedAt: _r, ...rest }) => rest), [
    { v: 1, server: SERVER, from: 'alice@localhost/phone', available: true, caps: { hash: 'sha-1', node: 'https://y', ver: 'ALICEVER=' }, delayed: false },
    { v: 1, server: SERVER, from: 'bob@localhost/early', available: true, delayed: true },
    { v: 1, server: SERVER, from: 'alice@localhost/phone', available: true, delayed: false },
    { v: 1, server: SERVER, from: 'alice@localhost/phone', available: false, delayed: false },
  ]);
  assert.equal(await metricValue('dbroker_ingress_presences_total', 'outcome="forwarded"'), 4);
  assert.equal(await metricValue('dbroker_ingress_presences_total', 'outcome="ignored"'), 1);
  assert.equal(await metricValue('dbroker_ingress_presences_total', 'outcome="untrusted"'), 3);
  assert.ok(!audit.some((e) => JSON.stringify(e).includes('ALICEVER')), 'no audit event per presence');
});

test("presences of other domains are forwarded only once the server granted presence='roster'", async () => {
  advertisePrivileges(PRIVILEGE_NS_2, [['presence', 'managed_entity']]);
  await until(() => ingress.privileges.get()?.perms.presence === 'managed_entity');
  const n = presences.length;
  fake.send(`<presence from='carol@remote.example/laptop' to='${COMPONENT}'/>`);
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'get'], ['presence', 'roster']]);
  await until(() => ingress.privileges.get()?.perms.presence === 'roster');
  fake.send(`<presence from='carol@remote.example/laptop' to='${COMPONENT}'/>`);
  fake.send(`<presence from='x@pubsub.localhost/r' to='${COMPONENT}'/>`);
  await until(() => presences.length >= n + 1);
  await sleep(100);
  assert.deepEqual(presences.slice(n).map((p) => [p.from, p.available]), [['carol@remote.example/laptop', true]]);
});

test('roster-get: forbidden targets are refused, audited, never sent', async () => {
  const n = sentIqs().length;
  for (const [to, pattern] of [
    ['alice@localhost/phone', /full JID/],
    ['mallory@evil.example', /not a user of the served domain/],
    ['localhost', /server domain itself/],
    ['not a jid@@', /not a valid JID/],
  ] as const) {
    refusal(await ask(roster(to, { worker: 'pep-forbidden' })), 'forbidden', pattern);
  }
  refusal(await ask(disco('alice@localhost', undefined)), 'forbidden', /not a full JID/);
  // an envelope that is not ours at all (requestIq would refuse it locally, so it goes raw)
  const raw = await bus.nc.request(ingress.iqSubject, encodeStateEnvelope({ v: 1, kind: 'roster-set', to: 'alice@localhost', worker: 'w', timeoutMs: 10 } as unknown as IqRequestEnvelope), { timeout: 5000 });
  refusal(JSON.parse(raw.string()) as IqResponseEnvelope, 'bad-request', /kind/);
  await sleep(100);
  assert.equal(sentIqs().length, n, 'nothing was sent to the server');
  await until(() => audit.filter((e) => e.type === 'iq.refused' && e.error === 'forbidden' && e.worker === 'pep-forbidden').length === 4);
  await until(() => audit.some((e) => e.type === 'iq.refused' && e.error === 'bad-request'));
  const one = audit.find((e) => e.type === 'iq.refused' && e.to === 'mallory@evil.example');
  assert.ok(one && one.type === 'iq.refused' && one.kind === 'roster-get' && /not a user/.test(one.reason));
});

test('roster-get: without the roster get permission, no-permission (audited, hint in the log), nothing sent', async () => {
  advertisePrivileges(PRIVILEGE_NS_1, [['roster', 'none'], ['message', 'outgoing'], ['presence', 'none']]);
  await until(() => ingress.privileges.get()?.version === PRIVILEGE_NS_1);
  const n = sentIqs().length;
  refusal(await ask(roster('alice@localhost', { worker: 'pep-noperm' })), 'no-permission', /roster='none'/);
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'set'], ['message', 'outgoing']]);
  await until(() => ingress.privileges.get()?.perms.roster === 'set');
  refusal(await ask(roster('alice@localhost', { worker: 'pep-noperm' })), 'no-permission', /roster='set'/);
  await sleep(100);
  assert.equal(sentIqs().length, n);
  await until(() => audit.filter((e) => e.type === 'iq.refused' && e.error === 'no-permission' && e.worker === 'pep-noperm').length === 2);
});

test('roster-get: sent from the component to the bare JID; answered from it; a spoofed answer is not accepted', async () => {
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'get'], ['message', 'outgoing'], ['presence', 'roster']]);
  await until(() => ingress.privileges.get()?.perms.roster === 'get');
  const pending = ask(roster('Alice@LocalHost'));
  const req = await sentTo('alice@localhost', 'jabber:iq:roster');
  assert.equal(req.toString(), `<iq type="get" from="${COMPONENT}" to="alice@localhost" id="${req.attrs.id}"><query xmlns="jabber:iq:roster"/></iq>`);
  const items = xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'bob@localhost', subscription: 'both', name: 'Bob' }, xml('group', {}, 'Friends')));
  // same id, wrong sender: another user, the server, a resource of alice, no from at all
  for (const from of ['mallory@localhost', 'localhost', 'alice@localhost/phone']) fake.send(xml('iq', { from, to: COMPONENT, id: req.attrs.id!, type: 'result' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'evil@x', subscription: 'both' }))));
  fake.send(xml('iq', { to: COMPONENT, id: req.attrs.id!, type: 'result' }));
  await sleep(150);
  answer(req, { from: 'alice@localhost' }, items);
  const res = await pending;
  assert.ok(res.ok, JSON.stringify(res));
  const stanza = parseXml(res.stanza);
  assert.equal(stanza.attrs.xmlns, 'jabber:client');
  assert.equal(stanza.attrs.from, 'alice@localhost');
  assert.equal(stanza.attrs.type, 'result');
  assert.deepEqual(stanza.getChild('query', 'jabber:iq:roster')!.getChildren('item').map((i) => [i.attrs.jid, i.attrs.subscription, i.getChildText('group')]), [['bob@localhost', 'both', 'Friends']]);
  assert.equal(await metricValue('dbroker_ingress_rejected_stanzas_total', 'reason="iq-response-sender"'), 4, 'four spoofed answers counted, the one without from included');
  assert.equal(await metricValue('dbroker_ingress_user_iqs_total', 'kind="roster-get",outcome="result"'), 1);
});

test('an error answer is passed through; silence is a timeout; a late answer changes nothing', async () => {
  const pending = ask(roster('bob@localhost'));
  const req = await sentTo('bob@localhost', 'jabber:iq:roster');
  answered.add(req.attrs.id!);
  fake.send(xml('iq', { from: 'bob@localhost', to: COMPONENT, id: req.attrs.id!, type: 'error' }, xml('error', { type: 'auth' }, xml('forbidden', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))));
  const res = await pending;
  assert.ok(res.ok && /type="error"/.test(res.stanza) && /<forbidden/.test(res.stanza), JSON.stringify(res));

  const t0 = Date.now();
  const silent = ask(roster('carol@localhost', { timeoutMs: 300 }));
  const req2 = await sentTo('carol@localhost', 'jabber:iq:roster');
  const late = await silent;
  refusal(late, 'timeout', /did not answer the roster-get within 300 ms/);
  assert.ok(Date.now() - t0 >= 290);
  answer(req2, { from: 'carol@localhost' });
  await sleep(100);
  assert.equal(await metricValue('dbroker_ingress_user_iqs_total', 'kind="roster-get",outcome="timeout"'), 1);
  assert.equal(ingress.isReady(), true);
});

test('disco-info: to a full JID with the caps node; answered from that full JID', async () => {
  const pending = ask(disco('alice@localhost/phone', 'https://y#ALICEVER='));
  const req = await sentTo('alice@localhost/phone', 'http://jabber.org/protocol/disco#info');
  assert.equal(req.getChild('query')!.attrs.node, 'https://y#ALICEVER=');
  assert.equal(req.attrs.from, COMPONENT);
  // the bare JID answering for the resource is not the entity asked
  fake.send(xml('iq', { from: 'alice@localhost', to: COMPONENT, id: req.attrs.id!, type: 'result' }));
  await sleep(100);
  answer(req, { from: 'alice@localhost/phone' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'https://y#ALICEVER=' }, xml('identity', { category: 'client', type: 'phone' }), xml('feature', { var: 'urn:xmpp:avatar:metadata+notify' })));
  const res = await pending;
  assert.ok(res.ok, JSON.stringify(res));
  assert.match(res.stanza, /urn:xmpp:avatar:metadata\+notify/);
  // remote contacts' resources are fine too (the server routes it); the component's own domain is not
  const remote = ask(disco('carol@remote.example/laptop'));
  const req2 = await sentTo('carol@remote.example/laptop', 'http://jabber.org/protocol/disco#info');
  assert.equal(req2.getChild('query')!.attrs.node, undefined);
  answer(req2, { from: 'carol@remote.example/laptop' });
  assert.ok((await remote).ok);
  refusal(await ask(disco('x@pubsub.localhost/r')), 'forbidden', /component's own domain/);
});

test('protocol versions: one stream.protocols event per stream; again only when a version changes', async () => {
  // this stream: privileges :2, :1, :2 were advertised by the tests above, no delegation yet; wait until
  // the last report says so (no window still open), so that what follows is the only change
  const reports = () => audit.filter((e): e is Extract<AuditEvent, { type: 'stream.protocols' }> => e.type === 'stream.protocols');
  await until(() => reports().at(-1)?.privilege === PRIVILEGE_NS_2 && reports().at(-1)?.delegation === null, 5000, 'report of this stream so far');
  const before = reports().length;
  for (let i = 0; i < 4; i++) advertiseDelegation(DLG1, [`urn:example:ns${i}`]); // ejabberd: one message per namespace
  await until(() => reports().length > before, 5000, 'report after delegation');
  await sleep(1300);
  assert.equal(reports().length, before + 1, 'four grant messages, one report');
  assert.deepEqual([reports().at(-1)!.delegation, reports().at(-1)!.privilege], [DLG1, PRIVILEGE_NS_2]);
  assert.equal(reports().at(-1)!.server, SERVER);
  assert.equal(reports().at(-1)!.component, COMPONENT);
  advertiseDelegation(DLG1, ['urn:example:again']);
  await sleep(1300);
  assert.equal(reports().length, before + 1, 'same versions: no report');
});

test('link down: a pending IQ is answered offline at once; then the subject is released (offline from no responders)', async () => {
  const pending = ask(roster('dave@localhost', { timeoutMs: 10_000 }));
  await sentTo('dave@localhost', 'jabber:iq:roster');
  const t0 = Date.now();
  const reportsBefore = audit.filter((e) => e.type === 'stream.protocols').length;
  const n = fake.connections();
  fake.dropConnection();
  refusal(await pending, 'offline', /went down/);
  assert.ok(Date.now() - t0 < 3000, 'not after the timeout');
  // a new stream: advertisements again, reported again
  await until(() => fake.connections() > n, 5000);
  await fake.waitForConnection();
  await subscribed();
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'get']]);
  advertiseDelegation(DLG2, ['http://jabber.org/protocol/pubsub']);
  await until(() => audit.filter((e) => e.type === 'stream.protocols').length > reportsBefore, 5000);
  const last = audit.filter((e) => e.type === 'stream.protocols').at(-1)!;
  assert.ok(last.type === 'stream.protocols' && last.delegation === DLG2 && last.privilege === PRIVILEGE_NS_2, JSON.stringify(last));

  await fake.stop();
  await until(() => !ingress.isReady(), 5000);
  await sleep(200);
  const t1 = Date.now();
  refusal(await ask(roster('alice@localhost'), 2000), 'offline', /no responders/);
  assert.ok(Date.now() - t1 < 1000, 'refused at once');
});

test('presence forwarder (unit): one warning per dropped sender and stream; a failed publish is counted, not thrown', async () => {
  const lines: Array<[string, string | undefined]> = [];
  const rec = (level: string) => (_o: object, msg?: string) => void lines.push([level, msg]);
  const unitMetrics = createMetrics({ service: 'unit' });
  let fail = false;
  const published: string[] = [];
  const fwd = createPresenceForwarder({
    serverDomain: SERVER,
    componentDomain: COMPONENT,
    subject: 'x.presence.localhost',
    publish: (_s, data) => {
      if (fail) throw new Error('connection closed');
      published.push(new TextDecoder().decode(data));
    },
    privileges: new PrivilegeState(),
    logger: { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') },
    metrics: createIngressMetrics(unitMetrics),
    now: () => new Date('2026-01-01T00:00:00Z'),
  });
  for (let i = 0; i < 3; i++) fwd.onPresence(parseXml(`<presence from='mallory@evil.example/x'/>`));
  fwd.onPresence(parseXml(`<presence from='eve@evil.example/x'/>`));
  assert.deepEqual(lines.filter(([l]) => l === 'warn').length, 2, 'one warning per sender');
  fwd.resetStream();
  fwd.onPresence(parseXml(`<presence from='mallory@evil.example/x'/>`));
  assert.deepEqual(lines.filter(([l]) => l === 'warn').length, 3, 'warned again on the next stream');
  fwd.onPresence(parseXml(`<presence from='alice@localhost/r'/>`));
  assert.deepEqual(published.map((p) => JSON.parse(p) as unknown), [{ v: 1, server: SERVER, from: 'alice@localhost/r', available: true, delayed: false, receivedAt: '2026-01-01T00:00:00.000Z' }]);
  fail = true;
  assert.doesNotThrow(() => fwd.onPresence(parseXml(`<presence from='alice@localhost/r'/>`)));
  const text = await unitMetrics.registry.metrics();
  assert.match(text, /^dbroker_ingress_presences_total\{outcome="publish-failed",service="unit"\} 1$/m);
  assert.match(text, /^dbroker_ingress_presences_total\{outcome="untrusted",service="unit"\} 5$/m);
});
