import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import {
  encodeEnvelope,
  sendPrivilegedMessage,
  startWorker,
  type AuditEvent,
  type AuditEventInput,
  type Bus,
  type EventPublisher,
  type OutboundAck,
  type OutboundEnvelope,
} from '@dbroker/bus';
import { PRIVILEGE_NS_1, PRIVILEGE_NS_2 } from '@dbroker/protocol';
import { createLogger, createMetrics, type Metrics } from '@dbroker/telemetry';
import type { FakeXmppServer } from '../../../test/harness/fake-xmpp-server';
import type { Ingress } from './app';
import { COMPONENT, SERVER, startIngressFixture, until, type IngressFixture } from './test-fixture';
import { createIngressMetrics } from './metrics';
import { createOutboundHandler } from './outbound';
import { PrivilegeState } from './privileges';
import type { LinkStatus } from './xmpp-link';

// The XEP-0356 outbound path: a worker asks over NATS, the ingress validates, wraps in the privilege
// version the server advertised and writes to a scripted XEP-0114 server (test/harness/fake-xmpp-server).
const PUBSUB = 'http://jabber.org/protocol/pubsub';

const logger = createLogger({ service: 'outbound-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let fx: IngressFixture;
let fake: FakeXmppServer;
let ingress: Ingress;
let bus: Bus;
let metrics: Metrics;
let audit: AuditEvent[];
let seq = 0;

before(async () => {
  fx = await startIngressFixture('outbound-test', { REQUEST_TIMEOUT_MS: '2000', MAX_STANZA_BYTES: '4096' });
  ({ fake, bus, ingress, metrics, audit } = fx);
  await subscribed();
});

after(async () => {
  await fx?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the ingress has subscribed the outbound subject (it does so once the link is online). */
async function subscribed(): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ack = await sendPrivilegedMessage(bus.nc, ingress.outboundSubject, envelope({ from: 'probe@elsewhere' }), 1000);
    if (ack.ok || !/no responders/.test(ack.reason)) return;
    if (Date.now() - t0 > 5000) throw new Error('the ingress did not subscribe the outbound subject');
    await sleep(20);
  }
}

function envelope(o: { from?: string; to?: string; body?: string; stanza?: string; worker?: string; requestId?: string } = {}): OutboundEnvelope {
  // What the PEP workers send: a headline with a pubsub event (the "body" of these tests is the item id).
  const stanza =
    o.stanza ??
    xml('message', { xmlns: 'jabber:client', from: o.from ?? 'alice@localhost', to: o.to ?? 'bob@localhost/phone', type: 'headline' }, xml('event', { xmlns: NS_EVENT }, xml('items', { node: 'urn:test' }, xml('item', { id: o.body ?? `hello ${++seq}` })))).toString();
  return { v: 1, kind: 'message', stanza, worker: o.worker ?? 'mam-test', ...(o.requestId ? { requestId: o.requestId } : {}) };
}

const send = (env: OutboundEnvelope, timeoutMs = 5000): Promise<OutboundAck> => sendPrivilegedMessage(bus.nc, ingress.outboundSubject, env, timeoutMs);

function advertisePrivileges(version: string, perms: Array<[string, string]>) {
  fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('privilege', { xmlns: version }, ...perms.map(([access, type]) => xml('perm', { access, type })))));
}

const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const privileged = () => fake.received.filter((e) => e.name === 'message');

/** The wrapper the server must receive, with the id the ingress chose. */
function expectedWrapper(version: string, id: string, from: string, to: string, body: string): string {
  return (
    `<message from="${COMPONENT}" to="${SERVER}" id="${id}"><privilege xmlns="${version}"><forwarded xmlns="urn:xmpp:forward:0">` +
    `<message xmlns="jabber:client" from="${from}" to="${to}" type="headline"><event xmlns="${NS_EVENT}"><items node="urn:test"><item id="${body}"/></items></event></message>` +
    `</forwarded></privilege></message>`
  );
}

async function nothingWritten(before: number) {
  await sleep(150);
  assert.equal(privileged().length, before, 'no stanza was written to the server');
}

function refusal(ack: OutboundAck, error: string, pattern?: RegExp) {
  assert.equal(ack.ok, false, JSON.stringify(ack));
  if (ack.ok) return;
  assert.equal(ack.error, error, ack.reason);
  if (pattern) assert.match(ack.reason, pattern);
}

async function auditedRefusal(match: (e: Extract<AuditEvent, { type: 'privilege.refused' }>) => boolean) {
  await until(() => audit.some((e) => e.type === 'privilege.refused' && match(e)));
}

test('before any advertisement: no-permission, audited, nothing written', async () => {
  const n = privileged().length;
  const ack = await send(envelope({ requestId: 'r-noadv' }));
  refusal(ack, 'no-permission', /not advertised any XEP-0356 privilege/);
  await nothingWritten(n);
  await auditedRefusal((e) => e.requestId === 'r-noadv' && e.error === 'no-permission' && e.worker === 'mam-test' && e.from === 'alice@localhost');
});

test('ejabberd-style :1 advertisement with message none: no-permission; advertised perms audited', async () => {
  advertisePrivileges(PRIVILEGE_NS_1, [['roster', 'none'], ['message', 'none'], ['presence', 'none']]);
  await until(() => ingress.privileges.get()?.version === PRIVILEGE_NS_1);
  const n = privileged().length;
  refusal(await send(envelope()), 'no-permission', /message='none'/);
  await nothingWritten(n);
  await until(() => audit.some((e) => e.type === 'privilege.advertised' && e.version === PRIVILEGE_NS_1 && e.perms.message === 'none'));
});

test('a valid message is wrapped in the version the server advertised: :1, then :2', async () => {
  advertisePrivileges(PRIVILEGE_NS_1, [['roster', 'none'], ['message', 'outgoing'], ['presence', 'none']]);
  await until(() => ingress.privileges.get()?.perms.message === 'outgoing');
  const ack1 = await send(envelope({ body: 'via v1', to: 'bob@localhost/phone' }));
  assert.deepEqual(ack1, { v: 1, ok: true });
  // ok means written: the stanza is on its way before the ack leaves the ingress
  const w1 = await fake.waitFor((e) => e.name === 'message' && e.toString().includes('via v1'));
  assert.ok(w1.attrs.id);
  assert.equal(w1.toString(), expectedWrapper(PRIVILEGE_NS_1, w1.attrs.id!, 'alice@localhost', 'bob@localhost/phone', 'via v1'));

  // Prosody style: only the permissions that are set, in :2
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'get'], ['message', 'outgoing'], ['presence', 'roster']]);
  await until(() => ingress.privileges.get()?.version === PRIVILEGE_NS_2);
  assert.deepEqual(await send(envelope({ body: 'via v2', from: 'Carol@LocalHost', to: 'dave@example.net' })), { v: 1, ok: true });
  const w2 = await fake.waitFor((e) => e.name === 'message' && e.toString().includes('via v2'));
  assert.equal(w2.toString(), expectedWrapper(PRIVILEGE_NS_2, w2.attrs.id!, 'carol@localhost', 'dave@example.net', 'via v2'));
  assert.notEqual(w1.attrs.id, w2.attrs.id);
  await until(() => audit.some((e) => e.type === 'privilege.advertised' && e.version === PRIVILEGE_NS_2 && e.perms.roster === 'get' && e.perms.presence === 'roster'));
});

test('hostile or malformed requests are refused with the right error, audited, never written', async () => {
  const n = privileged().length;
  const cases: Array<[OutboundEnvelope, string, RegExp]> = [
    [envelope({ from: 'alice@localhost/res', requestId: 'h-full' }), 'not-allowed', /full JID/],
    [envelope({ from: 'mallory@elsewhere', requestId: 'h-other' }), 'forbidden', /not on the served domain/],
    [envelope({ from: 'localhost', requestId: 'h-domain' }), 'forbidden', /server domain itself/],
    [envelope({ from: 'alice@pubsub.localhost', requestId: 'h-component' }), 'forbidden', /not on the served domain/],
    [envelope({ stanza: `<message xmlns='jabber:client' to='bob@localhost'/>`, requestId: 'h-nofrom' }), 'forbidden', /no from/],
    [envelope({ stanza: `<message xmlns='jabber:client' from='alice@localhost'/>`, requestId: 'h-noto' }), 'bad-request', /no to/],
    [envelope({ stanza: `<iq xmlns='jabber:client' from='alice@localhost' to='localhost' type='set' id='x'><query xmlns='jabber:iq:roster'/></iq>`, requestId: 'h-iq' }), 'bad-request', /not a <message\/>/],
    [envelope({ stanza: `<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost'><iq type='set' id='s'/></message>`, requestId: 'h-smuggle' }), 'bad-request', /<iq\/> stanza inside/],
    [envelope({ stanza: `<message from='alice@localhost' to='bob@localhost'/><iq type='set' id='s'/>`, requestId: 'h-two-roots' }), 'bad-request', /more than one root/],
    [envelope({ stanza: `<message from='alice@localhost' to='bob@localhost'><body>${'x'.repeat(5000)}</body></message>`, requestId: 'h-big' }), 'bad-request', /over the 4096-byte limit/],
  ];
  for (const [env, error, pattern] of cases) refusal(await send(env), error, pattern);
  // an envelope that is not ours at all (the helper would refuse it locally, so it goes raw)
  const raw = await bus.nc.request(ingress.outboundSubject, encodeEnvelope({ v: 1, kind: 'presence', stanza: '<presence/>', worker: 'w' } as unknown as OutboundEnvelope), { timeout: 5000 });
  const rawAck = JSON.parse(raw.string()) as OutboundAck;
  refusal(rawAck, 'bad-request', /kind/);
  await nothingWritten(n);
  for (const [env, error] of cases) await auditedRefusal((e) => e.requestId === env.requestId && e.error === error && e.worker === 'mam-test');
  const full = audit.find((e) => e.type === 'privilege.refused' && e.requestId === 'h-full');
  assert.ok(full && full.type === 'privilege.refused' && full.from === 'alice@localhost/res' && full.to === 'bob@localhost/phone');
});

test('only what the workers produce is sent for them: a chat, a body or a forged archived chat is refused; notifications and MAM results pass', async () => {
  advertisePrivileges(PRIVILEGE_NS_2, [['roster', 'get'], ['message', 'outgoing'], ['presence', 'roster']]);
  await until(() => ingress.privileges.get()?.perms.message === 'outgoing');
  const EV = `<event xmlns='${NS_EVENT}'><items node='urn:x'><item id='1'/></items></event>`;
  const fwd = (inner: string) => `<result xmlns='urn:xmpp:mam:2' queryid='q' id='e1'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/>${inner}</forwarded></result>`;
  const m = (attrs: string, inner: string, requestId: string) => envelope({ stanza: `<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' ${attrs}>${inner}</message>`, requestId });
  const n = privileged().length;
  const refused: Array<[OutboundEnvelope, RegExp]> = [
    [m(`type='chat'`, `<body>send me your password</body>`, 'c-chat'), /only pubsub event notifications and MAM results/],
    [m('', `<body>hi</body>`, 'c-body'), /only pubsub event notifications and MAM results/],
    [m(`type='headline'`, `${EV}<body>hi</body>`, 'c-event-body'), /carries <body\/>/],
    [m(`type='chat'`, EV, 'c-chat-event'), /type 'chat'/],
    [m(`type='headline'`, `<subject>s</subject>${EV}`, 'c-subject'), /carries <subject\/>/],
    [m('', fwd(`<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' type='chat'><body>forged history</body></message>`), 'c-mam-chat'), /archived message carries more than a pubsub event/],
    [m('', `${fwd(`<message xmlns='jabber:client' from='alice@localhost' to='alice@localhost'>${EV}</message>`)}<body>x</body>`, 'c-mam-extra'), /besides the result/],
    [m('', `<x xmlns='jabber:x:data'/>`, 'c-other'), /only pubsub event notifications and MAM results/],
  ];
  for (const [env, pattern] of refused) refusal(await send(env), 'forbidden', pattern);
  await nothingWritten(n);
  for (const [env] of refused) await auditedRefusal((e) => e.requestId === env.requestId && e.error === 'forbidden' && e.from === 'alice@localhost');
  assert.match(await metrics.registry.metrics(), /dbroker_ingress_privileged_messages_total\{[^}]*outcome="forbidden"[^}]*\} [1-9]/);
  // What the product sends passes: a headline notification with SHIM headers, a delayed one, a MAM result.
  const ok: OutboundEnvelope[] = [
    m(`type='headline'`, `${EV}<headers xmlns='http://jabber.org/protocol/shim'><header name='SubID'>s1</header></headers>`, 'c-ok-1'),
    m('', `${EV}<delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/>`, 'c-ok-2'),
    m(`id='r1'`, fwd(`<message xmlns='jabber:client' from='alice@localhost' to='alice@localhost'>${EV}</message>`), 'c-ok-3'),
  ];
  for (const env of ok) assert.deepEqual(await send(env), { v: 1, ok: true });
});

test('order: 20 messages sent back to back arrive in order', async () => {
  const before = privileged().length;
  const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => send(envelope({ body: `order-${i}` }))));
  assert.ok(acks.every((a) => a.ok), JSON.stringify(acks.filter((a) => !a.ok)));
  await until(() => privileged().length >= before + 20);
  const bodies = privileged().slice(before).map((m) => m.getChild('privilege')!.getChild('forwarded')!.getChild('message')!.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id);
  assert.deepEqual(bodies, Array.from({ length: 20 }, (_, i) => `order-${i}`));
});

test('MAM pattern: messages acked before the IQ reply reach the server before it', async () => {
  const fwd = xml('iq', { from: SERVER, to: COMPONENT, id: 'fwd-mam', type: 'set' },
    xml('delegation', { xmlns: 'urn:xmpp:delegation:2' }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' },
      xml('iq', { xmlns: 'jabber:client', from: 'alice@localhost/res', to: 'alice@localhost', id: 'q1', type: 'get' }, xml('pubsub', { xmlns: PUBSUB }, xml('items', { node: 'n' }))))));
  fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('delegation', { xmlns: 'urn:xmpp:delegation:2' }, xml('delegated', { namespace: PUBSUB }))));
  await until(() => ingress.grants.has(PUBSUB));
  const worker = startWorker({
    nc: bus.nc,
    subjects: ['xmpp.req.*.pubsub'],
    queue: 'mam',
    concurrency: 1,
    workerId: 'mam-w',
    logger,
    handle: async (req) => {
      for (let i = 0; i < 5; i++) {
        const ack = await send(envelope({ from: 'alice@localhost', to: req.from, body: `result-${i}`, worker: 'mam-w', requestId: req.requestId }));
        assert.ok(ack.ok, JSON.stringify(ack));
      }
      return `<iq xmlns='jabber:client' type='result' id='${req.iqId}' from='${req.to}' to='${req.from}'/>`;
    },
  });
  await bus.nc.flush();
  try {
    const start = fake.received.length;
    fake.send(fwd);
    await fake.waitFor((e) => e.name === 'iq' && e.attrs.id === 'fwd-mam');
    const seen = fake.received.slice(start).map((e) => (e.name === 'iq' ? `iq:${e.attrs.id}` : e.getChild('privilege')!.getChild('forwarded')!.getChild('message')!.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id));
    assert.deepEqual(seen, ['result-0', 'result-1', 'result-2', 'result-3', 'result-4', 'iq:fwd-mam']);
  } finally {
    await worker.stop();
  }
});

test("the server's error reply to a privileged message is logged, counted and audited", async () => {
  assert.deepEqual(await send(envelope({ body: 'bounce-me', requestId: 'r-bounce' })), { v: 1, ok: true });
  const w = await fake.waitFor((e) => e.name === 'message' && e.toString().includes('bounce-me'));
  // Prosody's st.error_reply: same id, swapped addresses, no payload
  fake.send(xml('message', { from: SERVER, to: COMPONENT, id: w.attrs.id!, type: 'error' }, xml('error', { type: 'auth' }, xml('forbidden', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))));
  await auditedRefusal((e) => e.requestId === 'r-bounce' && /server refused the privileged message: forbidden/.test(e.reason) && e.error === undefined);
  const text = await metrics.registry.metrics();
  assert.match(text, /^dbroker_ingress_privileged_messages_total\{outcome="server-error",service="outbound-test"\} 1$/m);
  assert.match(text, /^dbroker_ingress_privileged_messages_total\{outcome="not-allowed",service="outbound-test"\} 1$/m);
  assert.match(text, /^dbroker_ingress_privileged_messages_total\{outcome="sent",service="outbound-test"\} \d+$/m);
});

test('privileges belong to the stream: after a reconnect, no-permission until the server advertises again', async () => {
  const n = fake.connections();
  fake.dropConnection();
  await until(() => fake.connections() > n, 5000);
  await fake.waitForConnection();
  await subscribed();
  assert.equal(ingress.privileges.get(), null);
  refusal(await send(envelope()), 'no-permission');
  advertisePrivileges(PRIVILEGE_NS_2, [['message', 'outgoing']]);
  await until(() => ingress.privileges.get()?.perms.message === 'outgoing');
  assert.deepEqual(await send(envelope()), { v: 1, ok: true });
});

test('link down: offline at once, nothing written (the ingress stops taking the subject)', async () => {
  const n = privileged().length;
  await fake.stop();
  await until(() => !ingress.isReady(), 5000);
  const t0 = Date.now();
  const ack = await send(envelope({ body: 'while-offline' }), 2000);
  refusal(ack, 'offline', /no responders/);
  assert.ok(Date.now() - t0 < 1000, 'refused at once, not after the timeout');
  assert.equal(privileged().length, n);
  assert.ok(!fake.received.some((e) => e.toString().includes('while-offline')));
});

describe('outbound handler (unit, stub link)', () => {
  const setup = (status: LinkStatus, write: (el: Element) => Promise<void>, maxBytesInFlight?: number) => {
    const emitted: AuditEventInput[] = [];
    const events: EventPublisher = {
      emit: (input) => (emitted.push(input), input as unknown as AuditEvent),
      pending: () => 0,
      flush: async () => true,
      stop: async () => undefined,
    };
    const privileges = new PrivilegeState();
    privileges.apply({ version: PRIVILEGE_NS_2, perms: { roster: 'none', message: 'outgoing', presence: 'none', iq: [] } });
    const handler = createOutboundHandler({
      serverDomain: SERVER,
      componentDomain: COMPONENT,
      maxStanzaBytes: 4096,
      privileges,
      link: { status: () => status, write },
      events,
      logger,
      metrics: createIngressMetrics(createMetrics({ service: 'unit' })),
      ...(maxBytesInFlight !== undefined ? { maxBytesInFlight } : {}),
    });
    return { handler, emitted };
  };
  const data = (o: Parameters<typeof envelope>[0] = {}) => encodeEnvelope(envelope(o));

  test('link not online: offline, audited, write never called', async () => {
    let writes = 0;
    const { handler, emitted } = setup('connecting', async () => void writes++);
    const ack = await handler.handle(data({ requestId: 'u1' }));
    refusal(ack, 'offline', /connecting/);
    assert.equal(writes, 0);
    assert.deepEqual(emitted.map((e) => [e.type, (e as { error?: string }).error, (e as { requestId?: string }).requestId]), [['privilege.refused', 'offline', 'u1']]);
  });

  test('a failed write is offline; the ack waits for the write; writes are issued in request order', async () => {
    const order: string[] = [];
    const pending: Array<() => void> = [];
    const { handler } = setup('online', (el) => {
      const body = el.getChild('privilege')!.getChild('forwarded')!.getChild('message')!.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id!;
      order.push(body);
      if (body === 'fail') return Promise.reject(new Error('socket closed'));
      return new Promise<void>((r) => pending.push(r));
    });
    let settled = 0;
    const acks = ['a', 'b', 'c'].map((b) => handler.handle(data({ body: b })).then((a) => (settled++, a)));
    assert.deepEqual(order, ['a', 'b', 'c'], 'written synchronously, in order');
    await sleep(20);
    assert.equal(settled, 0, 'no ack before the socket took the bytes');
    pending.reverse().forEach((r) => r());
    assert.ok((await Promise.all(acks)).every((a) => a.ok));
    refusal(await handler.handle(data({ body: 'fail' })), 'offline', /socket closed/);
  });

  test('bytes waiting for the socket are bounded: beyond OUTBOUND_MAX_BYTES_IN_FLIGHT a request is refused as offline, not buffered', async () => {
    const pending: Array<() => void> = [];
    const one = data({ body: 'x' }).length;
    const { handler, emitted } = setup('online', () => new Promise<void>((r) => pending.push(r)), one * 2);
    const first = [handler.handle(data({ body: 'x' })), handler.handle(data({ body: 'x' }))];
    refusal(await handler.handle(data({ body: 'x', requestId: 'over' })), 'offline', /not taking bytes fast enough/);
    assert.equal(pending.length, 2, 'the refused one was never written');
    assert.ok(emitted.some((e) => (e as { requestId?: string }).requestId === 'over'), 'audited');
    pending.splice(0).forEach((r) => r());
    assert.ok((await Promise.all(first)).every((a) => a.ok));
    // room again once the socket took the bytes
    const again = handler.handle(data({ body: 'x' }));
    pending.splice(0).forEach((r) => r());
    assert.ok((await again).ok);
  });
});
