import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import type { Element } from '@xmpp/xml';
import { trace } from '@opentelemetry/api';
import { connectBus, outboundSubject, sendPrivilegedMessage, type Bus, type OutboundAck, type OutboundEnvelope } from '@dbroker/bus';
import { IngressEnvSchema, startIngress } from '@dbroker/ingress';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { connectClient, closeAll, xml, type Client } from '../harness/xmpp-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { eventually, sleep, sqlRows as sqlRowsOf } from '../harness/wait';

// XEP-0356 privileged messages end to end: real Prosody 0.12 + mod_privilege (roster get, message
// outgoing, presence roster), our services as separate processes, a worker-side NATS client speaking
// the outbound contract (`<prefix>.out.<domain>`), real XMPP clients.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const PW = 'pw';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let prosody: ProsodyHandle;
let stack: BrokerStack;
let sql: import('pg').Pool;
let bus: Bus;
let bob: Client;
const inbox: Element[] = [];
let subject: string;

before(async () => {
  prosody = await startProsody({ users: [{ user: 'alice', password: PW }, { user: 'bob', password: PW }] });
  stack = await startBrokerStack({ prosody, mode: 'separate' });
  sql = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
  bus = await connectBus({ url: stack.natsUrl, name: 'e2e-worker', logger: silent });
  subject = outboundSubject('xmpp', prosody.domain);
  bob = await connectClient({ port: prosody.c2sPort, user: 'bob', password: PW, resource: 'phone', presence: true });
  bob.on('stanza', (el: Element) => {
    if (el.name === 'message') inbox.push(el);
  });
  // /readyz says the link is online; the outbound subscription follows it by a round trip.
  await eventually(async () => {
    const ack = await send(envelope('probe@elsewhere', 'bob@localhost', 'probe'));
    return ack.ok || !/no responders/.test(ack.reason);
  }, 10_000, 'outbound subscription');
});

after(async () => {
  await closeAll([bob].filter(Boolean));
  await bus?.nc.close();
  await sql?.end();
  await stack?.stop();
  await prosody?.stop();
});



const sqlRows = (text: string, values: unknown[] = []) => sqlRowsOf(sql, text, values);

// The ingress sends for workers only what they produce (pubsub event notifications, MAM results): these
// messages are notifications, told apart by their item id (`body` below).
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const notification = (from: string, to: string, body: string, type: string) =>
  xml('message', { xmlns: 'jabber:client', from, to, type, id: `m-${body}` }, xml('event', { xmlns: NS_EVENT }, xml('items', { node: 'urn:xmpp:e2e:priv' }, xml('item', { id: body })))).toString();

function envelope(from: string, to: string, body: string, requestId?: string): OutboundEnvelope {
  return { v: 1, kind: 'message', stanza: notification(from, to, body, 'normal'), worker: 'e2e-worker', ...(requestId ? { requestId } : {}) };
}

const send = (env: OutboundEnvelope): Promise<OutboundAck> => sendPrivilegedMessage(bus.nc, subject, env, 5000);
const itemOf = (m: Element) => m.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.attrs.id as string | undefined;
const received = (body: string) => inbox.filter((m) => itemOf(m) === body);

test("the privileges table holds Prosody's advertisement, through the projector", async () => {
  const row = await eventually(async () => (await sqlRows('select * from privileges where server = $1 and component = $2', [prosody.domain, prosody.componentJid]))[0], 15_000, 'privileges row');
  assert.equal(row.version, 'urn:xmpp:privilege:2');
  assert.deepEqual(row.perms, { roster: 'get', message: 'outgoing', presence: 'roster', iq: [] });
  const events = await sqlRows(`select payload from events where type = 'privilege.advertised'`);
  assert.ok(events.length >= 1);
});

test("a worker sends a message from alice's bare JID; bob receives it from alice@localhost", async () => {
  const ack = await send(envelope('alice@localhost', bob.jid!.toString(), 'hello-from-alice', 'req-1'));
  assert.deepEqual(ack, { v: 1, ok: true });
  const [msg] = await eventually(async () => { const r = received('hello-from-alice'); return r.length ? r : null; }, 5000, 'message at bob');
  assert.equal(msg!.attrs.from, 'alice@localhost');
  assert.equal(msg!.attrs.to, bob.jid!.toString());
  assert.equal(msg!.attrs.type, 'normal');
  assert.equal(msg!.attrs.id, 'm-hello-from-alice');
  assert.equal(msg!.getChild('privilege'), undefined, 'bob sees a plain message, not the wrapper');

  // to the bare JID: Prosody delivers it to bob's available resource
  assert.deepEqual(await send(envelope('alice@localhost', 'bob@localhost', 'to-bare')), { v: 1, ok: true });
  await eventually(async () => received('to-bare').length === 1, 5000, 'bare-JID message at bob');
});

test('a full-JID or foreign sender is refused, audited, and bob receives nothing', async () => {
  const full = await send(envelope('alice@localhost/res', bob.jid!.toString(), 'from-full-jid', 'req-full'));
  assert.equal(full.ok, false);
  assert.ok(!full.ok && full.error === 'not-allowed', JSON.stringify(full));
  const foreign = await send(envelope('mallory@elsewhere', bob.jid!.toString(), 'from-mallory', 'req-mallory'));
  assert.ok(!foreign.ok && foreign.error === 'forbidden', JSON.stringify(foreign));
  const self = await send(envelope('localhost', bob.jid!.toString(), 'from-server'));
  assert.ok(!self.ok && self.error === 'forbidden', JSON.stringify(self));

  // a message sent after them arrives: had the refused ones been sent, they would be there before it
  assert.deepEqual(await send(envelope('alice@localhost', bob.jid!.toString(), 'after-refusals')), { v: 1, ok: true });
  await eventually(async () => received('after-refusals').length === 1, 5000, 'later message at bob');
  await sleep(300);
  assert.deepEqual(received('from-full-jid'), []);
  assert.deepEqual(received('from-mallory'), []);
  assert.deepEqual(received('from-server'), []);

  const rows = await eventually(async () => {
    const r = await sqlRows(`select payload from events where type = 'privilege.refused' and payload->>'requestId' in ('req-full', 'req-mallory')`);
    return r.length === 2 ? r : null;
  }, 15_000, 'privilege.refused events');
  const byId = Object.fromEntries(rows.map((r) => [r.payload.requestId, r.payload]));
  assert.equal(byId['req-full'].error, 'not-allowed');
  assert.equal(byId['req-full'].from, 'alice@localhost/res');
  assert.equal(byId['req-full'].worker, 'e2e-worker');
  assert.equal(byId['req-mallory'].error, 'forbidden');
  assert.equal(byId['req-mallory'].from, 'mallory@elsewhere');
});

test('ordering through Prosody: 20 messages back to back arrive in order', async () => {
  const bodies = Array.from({ length: 20 }, (_, i) => `seq-${i}`);
  const acks = await Promise.all(bodies.map((b) => send(envelope('alice@localhost', bob.jid!.toString(), b))));
  assert.ok(acks.every((a) => a.ok), JSON.stringify(acks));
  await eventually(async () => bodies.every((b) => received(b).length === 1), 5000, 'all 20 at bob');
  const order = inbox.map(itemOf).filter((b): b is string => !!b && b.startsWith('seq-'));
  assert.deepEqual(order, bodies);
});

test('unavailable recipients: normal is rerouted to an available resource, headline is dropped, a bounce fails inside Prosody', async () => {
  // RFC 6121 §8.5.3.2.1: a chat/normal message to a gone resource goes to the bare JID's available resources
  assert.deepEqual(await send(envelope('alice@localhost', 'bob@localhost/gone', 'normal-to-gone')), { v: 1, ok: true });
  await eventually(async () => received('normal-to-gone').length === 1, 5000, 'rerouted message at bob');
  // a headline (what PEP notifications are) to a gone resource is silently dropped
  const headline = notification('alice@localhost', 'bob@localhost/gone', 'headline-to-gone', 'headline');
  assert.deepEqual(await send({ v: 1, kind: 'message', stanza: headline, worker: 'e2e-worker' }), { v: 1, ok: true });
  // an existing user with no session: mod_offline stores it (no bounce)
  assert.deepEqual(await send(envelope('bob@localhost', 'alice@localhost/gone', 'to-offline-user')), { v: 1, ok: true });
  // no such user: Prosody has to bounce to the sender, and mod_privilege's fake session has no `send`
  // (protocol-notes §4). A groupchat to a gone resource would bounce too: the ingress never sends one.
  const logBefore = (await readFile(prosody.logPath, 'utf8')).length;
  assert.deepEqual(await send(envelope('bob@localhost', 'nobody@localhost', 'to-no-such-user')), { v: 1, ok: true });
  const groupchat = await send({ v: 1, kind: 'message', stanza: notification('alice@localhost', 'bob@localhost/gone', 'groupchat-to-gone', 'groupchat'), worker: 'e2e-worker' });
  assert.ok(!groupchat.ok && groupchat.error === 'forbidden', JSON.stringify(groupchat));
  // the link survives: the next message is delivered
  assert.deepEqual(await send(envelope('alice@localhost', bob.jid!.toString(), 'after-unavailable')), { v: 1, ok: true });
  await eventually(async () => received('after-unavailable').length === 1, 5000, 'the link still works');
  assert.deepEqual(received('headline-to-gone'), []);
  assert.deepEqual(received('to-offline-user'), []);
  const log = (await readFile(prosody.logPath, 'utf8')).slice(logBefore);
  if (process.env.TEST_LOG_LEVEL === 'debug') console.error(log.split('\n').filter((l) => /\berror\b|traceback/i.test(l)).join('\n'));
});

test('Prosody without privileged_entities: no advertisement, every message refused as no-permission with a hint; nothing crashes', async () => {
  // A second Prosody without the privilege configuration, served by an in-process ingress on its own
  // subjects and events stream (same NATS), its logs captured.
  const bare = await startProsody({ privileges: false, users: [{ user: 'carol', password: PW }] });
  const lines: string[] = [];
  const logger = createLogger({ service: 'ingress-noperm', level: 'info', destination: { write: (s: string) => void lines.push(s) } });
  const events: Array<Record<string, unknown>> = [];
  const sub = bus.nc.subscribe('noperm.events.>', { callback: (_e, m) => void events.push(JSON.parse(m.string()) as Record<string, unknown>) });
  const ingress = await startIngress(
    IngressEnvSchema.parse({
      XMPP_SERVICE: `xmpp://127.0.0.1:${bare.componentPort}`,
      XMPP_DOMAIN: bare.componentJid,
      XMPP_SECRET: bare.secret,
      XMPP_SERVER: bare.domain,
      NATS_URL: stack.natsUrl,
      SUBJECT_PREFIX: 'noperm',
      EVENTS_STREAM: 'NOPERM_EVENTS',
      EVENTS_SUBJECT_PREFIX: 'noperm.events',
    }),
    { logger, metrics: createMetrics({ service: 'ingress-noperm' }), tracer: trace.getTracer('e2e') },
  );
  let carol: Client | undefined;
  try {
    carol = await connectClient({ port: bare.c2sPort, user: 'carol', password: PW, presence: true });
    const got: Element[] = [];
    carol.on('stanza', (el: Element) => void (el.name === 'message' && got.push(el)));
    await eventually(async () => ingress.isReady(), 10_000, 'in-process ingress online');
    const noPermSubject = outboundSubject('noperm', bare.domain);
    const ack = await eventually(async () => {
      const a = await sendPrivilegedMessage(bus.nc, noPermSubject, envelope('alice@localhost', carol!.jid!.toString(), 'no-perm', 'req-noperm'), 5000);
      return a.ok || !/no responders/.test(a.reason) ? a : null;
    }, 10_000, 'outbound subscription');
    assert.ok(!ack.ok && ack.error === 'no-permission', JSON.stringify(ack));
    assert.equal(ingress.privileges.get(), null, 'Prosody sent no privilege advertisement');
    const again = await sendPrivilegedMessage(bus.nc, noPermSubject, envelope('alice@localhost', carol.jid!.toString(), 'no-perm-2'), 5000);
    assert.ok(!again.ok && again.error === 'no-permission');

    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'privileged message refused' && l.error === 'no-permission');
    assert.ok(warning, 'a warning names the refusal');
    assert.match(String(warning.hint), /privileged_entities = \{ \["pubsub\.localhost"\] = \{ message = "outgoing" \} \}/);
    await eventually(async () => events.some((e) => e.type === 'privilege.refused' && e.requestId === 'req-noperm' && e.error === 'no-permission'), 5000, 'privilege.refused event');
    await sleep(300);
    assert.deepEqual(got.filter((m) => itemOf(m)?.startsWith('no-perm')), []);
    assert.ok(ingress.isReady(), 'the ingress is still online');
  } finally {
    sub.unsubscribe();
    await closeAll(carol ? [carol] : []);
    await ingress.stop();
    await bare.stop();
  }
});
