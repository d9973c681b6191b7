import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Element } from '@xmpp/xml';
import { trace } from '@opentelemetry/api';
import { connectBus, decodePresence, requestIq, type AuditEvent, type Bus, type IqRequestEnvelope, type IqResponseEnvelope, type PresenceEnvelope } from '@dbroker/bus';
import { IngressEnvSchema, startIngress, type Ingress } from '@dbroker/ingress';
import { parseXml } from '@dbroker/protocol';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { startNatsServer, type NatsServerHandle } from '../harness/nats-server';
import { luaString, rosterFile, startProsody, type ProsodyHandle } from '../harness/prosody';
import { connectClient, closeAll, xml, type Client } from '../harness/xmpp-client';
import { eventually, sleep } from '../harness/wait';

// Shared user state through a real Prosody 0.12 + mod_privilege (roster get, message outgoing, presence
// roster): the presences Prosody sends the component become PresenceEnvelopes on NATS; a worker's
// roster get and caps disco#info go out through the ingress and come back answered.
const PW = 'pw';
const CAPS = 'http://jabber.org/protocol/caps';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const BOB_CAPS = { hash: 'sha-1', node: 'https://example.org/bob-client', ver: 'BoBVeR+/=' };
const ALICE_CAPS = { hash: 'sha-1', node: 'https://example.org/alice-client', ver: 'q07IKJEyjvHSyhy//CH0CxmKi8w=' };
const capsEl = (c: typeof BOB_CAPS) => xml('c', { xmlns: CAPS, ...c });

let nats: NatsServerHandle;
let prosody: ProsodyHandle;
let ingress: Ingress;
let bus: Bus;
let bob: Client;
let alice: Client | undefined;
const presences: PresenceEnvelope[] = [];
const audit: AuditEvent[] = [];
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  nats = await startNatsServer();
  prosody = await startProsody({
    users: [{ user: 'alice', password: PW }, { user: 'bob', password: PW }],
    rosters: {
      alice: [
        { jid: 'bob@localhost', subscription: 'both', name: 'Bob "the builder" \\ Bär', groups: ['Friends', 'Work'] },
        { jid: 'carol@remote.example', subscription: 'to' },
        { jid: 'dave@localhost', subscription: 'none', ask: 'subscribe' },
      ],
    },
  });
  bus = await connectBus({ url: nats.url, name: 'e2e-worker', logger: { debug() {}, info() {}, warn() {}, error() {} } });
  bus.nc.subscribe('xmpp.presence.>', {
    callback: (_e, m) => {
      const d = decodePresence(m.data);
      if (d.ok) presences.push(d.value);
    },
  });
  bus.nc.subscribe('dbroker.events.>', {
    callback: (_e, m) => {
      const body = JSON.parse(m.string()) as AuditEvent | { batch: AuditEvent[] };
      audit.push(...('batch' in body ? body.batch : [body]));
    },
  });
  await bus.nc.flush();
  // bob is online before the component connects: Prosody replays his presence to it (with a delay)
  bob = await connectClient({ port: prosody.c2sPort, user: 'bob', password: PW, resource: 'early' });
  await bob.send(xml('presence', {}, capsEl(BOB_CAPS)));
  await sleep(100);
  const logger = createLogger({
    service: 'ingress-user-state',
    level: 'info',
    destination: { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  ingress = await startIngress(
    IngressEnvSchema.parse({
      XMPP_SERVICE: `xmpp://127.0.0.1:${prosody.componentPort}`,
      XMPP_DOMAIN: prosody.componentJid,
      XMPP_SECRET: prosody.secret,
      XMPP_SERVER: prosody.domain,
      NATS_URL: nats.url,
      FEATURES_WAIT_MS: '0',
    }),
    { logger, metrics: createMetrics({ service: 'ingress-user-state' }), tracer: trace.getTracer('e2e') },
  );
  await eventually(async () => ingress.isReady(), 10_000, 'ingress online');
  await eventually(async () => {
    const r = await ask({ v: 1, kind: 'disco-info', to: 'probe@elsewhere', worker: 'probe', timeoutMs: 1000 });
    return r.ok || r.error !== 'offline';
  }, 10_000, 'iq subscription');
});

after(async () => {
  await closeAll([bob, alice].filter((c): c is Client => !!c));
  await ingress?.stop();
  await bus?.nc.close();
  await prosody?.stop();
  await nats?.stop();
});

const ask = (env: IqRequestEnvelope): Promise<IqResponseEnvelope> => requestIq(bus.nc, ingress.iqSubject, env, env.timeoutMs + 2000);
const withoutTime = ({ receivedAt: _r, ...rest }: PresenceEnvelope) => rest;

test('the harness writes Lua rosters Prosody reads (escaping included)', () => {
  assert.equal(luaString('a"b\\c\nÄ'), '"a\\034b\\092c\\010\\195\\132"');
  assert.ok(rosterFile([{ jid: 'bob@localhost', subscription: 'both', groups: ['F'] }]).includes('\t["bob@localhost"] = { ["subscription"] = "both"; ["groups"] = { ["F"] = true; }; };\n'));
});

test("one stream.protocols event for the connection: Prosody's delegation :2 and privilege :2", async () => {
  const ev = await eventually(async () => audit.find((e) => e.type === 'stream.protocols'), 10_000, 'stream.protocols event');
  assert.ok(ev.type === 'stream.protocols');
  assert.deepEqual([ev.delegation, ev.privilege, ev.server, ev.component], ['urn:xmpp:delegation:2', 'urn:xmpp:privilege:2', prosody.domain, prosody.componentJid]);
  const line = logLines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('protocol versions on this connection'));
  assert.ok(line, 'an info line names the versions');
  assert.equal(line.msg, 'protocol versions on this connection: delegation urn:xmpp:delegation:2, privilege urn:xmpp:privilege:2');
  await sleep(1500);
  assert.equal(audit.filter((e) => e.type === 'stream.protocols').length, 1, 'once per stream');
});

test("a session that existed before the component connected is replayed, marked delayed", async () => {
  const p = await eventually(async () => presences.find((x) => x.from === 'bob@localhost/early'), 10_000, "bob's replayed presence");
  assert.deepEqual(withoutTime(p), { v: 1, server: 'localhost', from: 'bob@localhost/early', available: true, caps: BOB_CAPS, delayed: true });
});

test('a user logs in and sends presence with caps: a PresenceEnvelope on NATS; unavailable when she leaves', async () => {
  alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: PW, resource: 'phone' });
  alice.iqCallee.get(DISCO_INFO, 'query', (ctx: { element: Element }) =>
    xml('query', { xmlns: DISCO_INFO, ...(ctx.element.attrs.node ? { node: ctx.element.attrs.node } : {}) },
      xml('identity', { category: 'client', type: 'phone', name: 'alice-test' }),
      xml('feature', { var: DISCO_INFO }),
      xml('feature', { var: 'urn:xmpp:avatar:metadata+notify' })),
  );
  await alice.send(xml('presence', {}, capsEl(ALICE_CAPS)));
  const p = await eventually(async () => presences.find((x) => x.from === 'alice@localhost/phone'), 10_000, "alice's presence");
  assert.deepEqual(withoutTime(p), { v: 1, server: 'localhost', from: 'alice@localhost/phone', available: true, caps: ALICE_CAPS, delayed: false });
});

test("a roster get for alice returns her roster, from her bare JID", async () => {
  const res = await ask({ v: 1, kind: 'roster-get', to: 'Alice@LocalHost', worker: 'e2e', timeoutMs: 5000 });
  assert.ok(res.ok, JSON.stringify(res));
  const iq = parseXml(res.stanza);
  assert.equal(iq.attrs.type, 'result');
  assert.equal(iq.attrs.from, 'alice@localhost', 'Prosody answers from the normalized bare JID');
  const items = iq.getChild('query', 'jabber:iq:roster')!.getChildren('item');
  const byJid = Object.fromEntries(items.map((i) => [i.attrs.jid, { subscription: i.attrs.subscription, name: i.attrs.name, ask: i.attrs.ask, groups: i.getChildren('group').map((g) => g.getText()).sort() }]));
  assert.deepEqual(byJid, {
    'bob@localhost': { subscription: 'both', name: 'Bob "the builder" \\ Bär', ask: undefined, groups: ['Friends', 'Work'] },
    'carol@remote.example': { subscription: 'to', name: undefined, ask: undefined, groups: [] },
    'dave@localhost': { subscription: 'none', name: undefined, ask: 'subscribe', groups: [] },
  });
  // a user without a roster (or without an account): Prosody answers an empty roster, not an error
  const empty = await ask({ v: 1, kind: 'roster-get', to: 'nobody@localhost', worker: 'e2e', timeoutMs: 5000 });
  assert.ok(empty.ok && parseXml(empty.stanza).getChild('query', 'jabber:iq:roster')!.getChildren('item').length === 0, JSON.stringify(empty));
});

test("a disco#info to alice's full JID with her caps node returns her client's answer", async () => {
  const node = `${ALICE_CAPS.node}#${ALICE_CAPS.ver}`;
  const res = await ask({ v: 1, kind: 'disco-info', to: 'alice@localhost/phone', node, worker: 'e2e', timeoutMs: 5000 });
  assert.ok(res.ok, JSON.stringify(res));
  const iq = parseXml(res.stanza);
  assert.equal(iq.attrs.type, 'result');
  assert.equal(iq.attrs.from, 'alice@localhost/phone');
  const query = iq.getChild('query', DISCO_INFO)!;
  assert.equal(query.attrs.node, node);
  assert.deepEqual(query.getChildren('feature').map((f) => f.attrs.var).sort(), [DISCO_INFO, 'urn:xmpp:avatar:metadata+notify']);
  // a resource that is not there: Prosody answers service-unavailable from the JID asked
  const gone = await ask({ v: 1, kind: 'disco-info', to: 'alice@localhost/gone', worker: 'e2e', timeoutMs: 5000 });
  assert.ok(gone.ok && parseXml(gone.stanza).attrs.type === 'error' && /service-unavailable/.test(gone.stanza), JSON.stringify(gone));
});

test('alice leaves: an unavailable presence on NATS', async () => {
  const n = presences.length;
  await closeAll([alice!]);
  alice = undefined;
  const p = await eventually(async () => presences.slice(n).find((x) => x.from === 'alice@localhost/phone' && !x.available), 10_000, 'unavailable');
  assert.deepEqual(withoutTime(p), { v: 1, server: 'localhost', from: 'alice@localhost/phone', available: false, delayed: false });
});
