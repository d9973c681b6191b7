import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { encodeEnvelope, decodeRequest, startWorker, type Bus } from '@dbroker/bus';
import { createLogger } from '@dbroker/telemetry';
import type { NatsServerHandle } from '../../../test/harness/nats-server';
import type { FakeXmppServer } from '../../../test/harness/fake-xmpp-server';
import type { Ingress } from './app';
import { COMPONENT, SERVER, startIngressFixture, until as untilFor, type IngressFixture } from './test-fixture';

// The ingress against a scripted XEP-0114 server (for stanzas Prosody never sends: hostile senders,
// ungranted namespaces, oversized payloads, link faults) and a real nats-server.
const TIMEOUT_MS = 600;
const DLG2 = 'urn:xmpp:delegation:2';
const DLG1 = 'urn:xmpp:delegation:1';
const PUBSUB = 'http://jabber.org/protocol/pubsub';

let fx: IngressFixture;
let nats: NatsServerHandle;
let fake: FakeXmppServer;
let ingress: Ingress;
let bus: Bus;
let seq = 0;

const logger = createLogger({ service: 'ingress-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

before(async () => {
  fx = await startIngressFixture('ingress-test', {
    REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
    MAX_STANZA_BYTES: '4096',
    PING_INTERVAL_MS: '1000',
    PING_TIMEOUT_MS: '400',
    FEATURES_WAIT_MS: '500',
  });
  ({ nats, fake, bus, ingress } = fx);
  advertise(DLG2, [{ ns: PUBSUB }, { ns: 'urn:xmpp:mam:2', attrs: ['node'] }]);
  await until(() => ingress.grants.has(PUBSUB));
});

after(async () => {
  await fx?.stop();
});

const until = (cond: () => boolean, timeoutMs = 3000) => untilFor(cond, timeoutMs);

function advertise(version: string, grants: Array<{ ns: string; attrs?: string[] }>, from = SERVER) {
  fake.send(xml('message', { from, to: COMPONENT }, xml('delegation', { xmlns: version }, ...grants.map((g) => xml('delegated', { namespace: g.ns }, ...(g.attrs ?? []).map((a) => xml('attribute', { name: a })))))));
}

function forwarded(opts: { version?: string; from?: string; innerFrom?: string; innerTo?: string | null; payload?: Element; innerType?: string } = {}) {
  const id = `fwd${++seq}`;
  const innerAttrs: Record<string, string> = { xmlns: 'jabber:client', from: opts.innerFrom ?? 'alice@localhost/res', id: `in${seq}`, type: opts.innerType ?? 'get' };
  if (opts.innerTo !== null) innerAttrs.to = opts.innerTo ?? 'alice@localhost';
  const payload = opts.payload ?? xml('pubsub', { xmlns: PUBSUB }, xml('items', { node: 'urn:xmpp:avatar:metadata' }));
  const el = xml('iq', { from: opts.from ?? SERVER, to: COMPONENT, id, type: 'set' }, xml('delegation', { xmlns: opts.version ?? DLG2 }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' }, xml('iq', innerAttrs, payload))));
  return { id, innerId: innerAttrs.id!, el };
}

async function answerTo(id: string, timeoutMs = TIMEOUT_MS + 1500): Promise<{ outer: Element; inner: Element; ms: number }> {
  const t0 = Date.now();
  const outer = await fake.waitFor((e) => e.name === 'iq' && e.attrs.id === id, timeoutMs);
  const inner = outer.getChildElements()[0]?.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('iq');
  assert.ok(inner, `answer to ${id} is a delegation wrapper: ${outer.toString()}`);
  return { outer, inner, ms: Date.now() - t0 };
}

function condition(iq: Element): string | undefined {
  return iq.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text')?.name;
}

async function exactlyOneAnswer(id: string) {
  await new Promise((r) => setTimeout(r, TIMEOUT_MS + 300));
  assert.equal(fake.received.filter((e) => e.attrs.id === id).length, 1, `exactly one answer to ${id}`);
}

test('no worker on the route: service-unavailable at once, in the version received, exactly once', async () => {
  for (const version of [DLG2, DLG1]) {
    if (version === DLG1) advertise(DLG1, [{ ns: PUBSUB }]);
    const { id, innerId, el } = forwarded({ version });
    fake.send(el);
    const { outer, inner, ms } = await answerTo(id);
    assert.equal(outer.attrs.type, 'result');
    assert.equal(outer.attrs.to, SERVER);
    assert.equal(outer.getChildElements()[0]!.attrs.xmlns, version);
    assert.equal(inner.attrs.type, 'error');
    assert.equal(inner.attrs.id, innerId);
    assert.equal(inner.attrs.to, 'alice@localhost/res');
    assert.equal(inner.attrs.from, 'alice@localhost');
    assert.equal(condition(inner), 'service-unavailable');
    assert.ok(ms < TIMEOUT_MS, `no-responders answered in ${ms} ms`);
    await exactlyOneAnswer(id);
  }
  advertise(DLG2, [{ ns: PUBSUB }, { ns: 'urn:xmpp:mam:2', attrs: ['node'] }]);
});

test('a worker answer is checked and wrapped; inner `to` absent means the requester bare JID', async () => {
  const worker = startWorker({
    nc: bus.nc,
    subjects: ['xmpp.req.*.pubsub'],
    queue: 'pep',
    concurrency: 4,
    workerId: 'w-ok',
    logger,
    handle: async (req) => `<iq xmlns='jabber:client' type='result' id='${req.iqId}' from='${req.to}' to='${req.from}'><pubsub xmlns='${PUBSUB}'><items node='n'/></pubsub></iq>`,
  });
  await bus.nc.flush();
  try {
    const { id, innerId, el } = forwarded({ innerTo: null });
    fake.send(el);
    const { inner } = await answerTo(id);
    assert.equal(inner.attrs.type, 'result');
    assert.equal(inner.attrs.id, innerId);
    assert.equal(inner.attrs.from, 'alice@localhost');
    assert.equal(inner.attrs.to, 'alice@localhost/res');
    assert.ok(inner.getChild('pubsub', PUBSUB));
    assert.ok(!/>\s+</.test(inner.toString()), 'no whitespace text nodes');
    await exactlyOneAnswer(id);
  } finally {
    await worker.stop();
  }
});

test('garbage or mismatched worker replies become internal-server-error', async () => {
  const replies = [
    () => 'not json at all',
    (req: { requestId: string }) => JSON.stringify({ v: 1, requestId: req.requestId, worker: 'bad', stanza: '<iq type=' }),
    (req: { requestId: string; iqId: string; to: string; from: string }) => JSON.stringify({ v: 1, requestId: req.requestId, worker: 'bad', stanza: `<iq xmlns='jabber:client' type='result' id='other' from='${req.to}' to='${req.from}'/>` }),
    (req: { requestId: string; iqId: string; to: string }) => JSON.stringify({ v: 1, requestId: req.requestId, worker: 'bad', stanza: `<iq xmlns='jabber:client' type='result' id='${req.iqId}' from='${req.to}' to='mallory@evil/x'/>` }),
    (req: { iqId: string; to: string; from: string }) => JSON.stringify({ v: 1, requestId: 'someone-else', worker: 'bad', stanza: `<iq xmlns='jabber:client' type='result' id='${req.iqId}' from='${req.to}' to='${req.from}'/>` }),
  ];
  for (const make of replies) {
    const sub = bus.nc.subscribe('xmpp.req.*.pubsub', {
      queue: 'pep',
      callback: (_e, msg) => {
        const d = decodeRequest(msg.data);
        assert.ok(d.ok);
        msg.respond(make(d.value));
      },
    });
    await bus.nc.flush();
    const { id, el } = forwarded();
    fake.send(el);
    const { inner } = await answerTo(id);
    assert.equal(condition(inner), 'internal-server-error', make.toString());
    sub.unsubscribe();
    await exactlyOneAnswer(id);
  }
});

test('a worker that holds the request past the bound: internal-server-error at the bound, late reply ignored', async () => {
  const sub = bus.nc.subscribe('xmpp.req.*.pubsub', {
    queue: 'pep',
    callback: (_e, msg) => {
      const d = decodeRequest(msg.data);
      assert.ok(d.ok);
      const r = d.value;
      setTimeout(() => msg.respond(encodeEnvelope({ v: 1, requestId: r.requestId, worker: 'slow', stanza: `<iq xmlns='jabber:client' type='result' id='${r.iqId}' from='${r.to}' to='${r.from}'/>` })), TIMEOUT_MS + 200);
    },
  });
  await bus.nc.flush();
  const { id, el } = forwarded();
  const t0 = Date.now();
  fake.send(el);
  const { inner } = await answerTo(id);
  const ms = Date.now() - t0;
  assert.equal(condition(inner), 'internal-server-error');
  assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + 500, `answered after ${ms} ms`);
  await new Promise((r) => setTimeout(r, 400));
  await exactlyOneAnswer(id);
  sub.unsubscribe();
});

test('namespace not granted and missing filtering attribute: service-unavailable, never routed', async () => {
  let routed = 0;
  const sub = bus.nc.subscribe('xmpp.req.>', { callback: () => void routed++ });
  await bus.nc.flush();
  const cases = [
    forwarded({ payload: xml('query', { xmlns: 'jabber:iq:roster' }) }),
    forwarded({ payload: xml('query', { xmlns: 'urn:xmpp:mam:2' }), innerType: 'set' }),
  ];
  for (const c of cases) fake.send(c.el);
  for (const c of cases) assert.equal(condition((await answerTo(c.id)).inner), 'service-unavailable');
  assert.equal(routed, 0);
  sub.unsubscribe();
});

test('hostile stanzas: wrong sender, spoofed inner address, oversized, malformed: refused, never routed', async () => {
  let routed = 0;
  const sub = bus.nc.subscribe('xmpp.req.>', { callback: () => void routed++ });
  await bus.nc.flush();
  const wrongSender = forwarded({ from: 'mallory@localhost/x' });
  fake.send(wrongSender.el);
  const a1 = await fake.waitFor((e) => e.attrs.id === wrongSender.id);
  assert.equal(a1.attrs.type, 'error', 'a non-delegation from a non-server gets a plain error');
  assert.equal(a1.attrs.to, 'mallory@localhost/x');

  const spoof = forwarded({ innerFrom: COMPONENT });
  fake.send(spoof.el);
  const a2 = await answerTo(spoof.id);
  assert.equal(a2.outer.attrs.type, 'result');
  assert.equal(condition(a2.inner), 'not-allowed');

  const big = forwarded({ payload: xml('pubsub', { xmlns: PUBSUB }, xml('publish', { node: 'n' }, xml('item', {}, xml('data', { xmlns: 'urn:x' }, 'x'.repeat(5000))))), innerType: 'set' });
  fake.send(big.el);
  const a3 = await answerTo(big.id);
  assert.equal(a3.outer.attrs.type, 'result', 'an oversized delegation still gets a wrapper');
  assert.ok(condition(a3.inner));

  const noInnerId = forwarded();
  noInnerId.el.getChildElements()[0]!.getChildElements()[0]!.getChildElements()[0]!.attrs.id = '';
  fake.send(noInnerId.el);
  await fake.waitFor((e) => e.attrs.id === noInnerId.id);

  await new Promise((r) => setTimeout(r, 100));
  assert.equal(routed, 0);
  sub.unsubscribe();
});

test('grant advertisements from anyone but the server are refused', async () => {
  advertise(DLG2, [{ ns: 'jabber:iq:roster' }], 'mallory@localhost/x');
  advertise(DLG2, [{ ns: 'jabber:iq:roster' }], 'evil.example');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(ingress.grants.has('jabber:iq:roster'), false);
  assert.equal(ingress.grants.has(PUBSUB), true);
});

test('disco nesting: node echoed, worker features merged, always a result', async () => {
  const q = (node: string, id: string) => xml('iq', { from: SERVER, to: COMPONENT, type: 'get', id }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node }));
  fake.send(q(`${DLG2}::${PUBSUB}`, 'd1'));
  const empty = await fake.waitFor((e) => e.attrs.id === 'd1');
  assert.equal(empty.attrs.type, 'result');
  assert.equal(empty.getChild('query')!.attrs.node, `${DLG2}::${PUBSUB}`);
  // A worker that comes up while the server waits for the answer still gets its features announced.
  fake.send(q(`${DLG1}:bare:${PUBSUB}`, 'd2'));
  await new Promise((r) => setTimeout(r, 150));
  const worker = startWorker({ nc: bus.nc, subjects: [], featureSubjects: ['xmpp.features.pubsub'], features: { identities: [{ category: 'pubsub', type: 'pep' }], features: [`${PUBSUB}#publish`] }, queue: 'pep', concurrency: 1, workerId: 'f', logger, handle: async () => '' });
  await bus.nc.flush();
  const full = await fake.waitFor((e) => e.attrs.id === 'd2');
  assert.equal(full.getChild('query')!.attrs.node, `${DLG1}:bare:${PUBSUB}`);
  assert.equal(full.getChild('query')!.getChild('identity')?.attrs.type, 'pep');
  assert.ok(full.getChild('query')!.getChildren('feature').some((f) => f.attrs.var === `${PUBSUB}#publish`));
  await worker.stop();
});

test('link faults: a silent server is detected by keep-alive, the component reconnects and answers again', async () => {
  const before = fake.connections();
  fake.silent = true;
  await until(() => fake.connections() > before, 5000);
  fake.silent = false;
  await fake.waitForConnection();
  advertise(DLG2, [{ ns: PUBSUB }]);
  await until(() => ingress.grants.has(PUBSUB));
  const { id, el } = forwarded();
  fake.send(el);
  assert.equal(condition((await answerTo(id)).inner), 'service-unavailable');
  // Dropped connection: reconnect with backoff.
  const n = fake.connections();
  fake.dropConnection();
  await until(() => fake.connections() > n, 5000);
  await fake.waitForConnection();
  await until(() => ingress.isReady());
});

test('an answer produced while the link is down is queued and delivered after the reconnect', async () => {
  advertise(DLG2, [{ ns: PUBSUB }]);
  await until(() => ingress.grants.has(PUBSUB));
  const sub = bus.nc.subscribe('xmpp.req.*.pubsub', {
    queue: 'pep',
    callback: (_e, msg) => {
      const d = decodeRequest(msg.data);
      assert.ok(d.ok);
      const r = d.value;
      setTimeout(() => msg.respond(encodeEnvelope({ v: 1, requestId: r.requestId, worker: 'w', stanza: `<iq xmlns='jabber:client' type='result' id='${r.iqId}' from='${r.to}' to='${r.from}'/>` })), 150);
    },
  });
  await bus.nc.flush();
  const { id, el } = forwarded();
  fake.send(el);
  await new Promise((r) => setTimeout(r, 20));
  const n = fake.connections();
  fake.dropConnection();
  await until(() => fake.connections() > n, 5000);
  const { inner } = await answerTo(id);
  assert.equal(inner.attrs.type, 'result');
  sub.unsubscribe();
});

test('NATS down: service-unavailable within the bound, never silence', async () => {
  advertise(DLG2, [{ ns: PUBSUB }]);
  await nats.stop();
  await until(() => !ingress.isReady(), 5000);
  const { id, el } = forwarded();
  const t0 = Date.now();
  fake.send(el);
  const { inner } = await answerTo(id);
  assert.equal(condition(inner), 'service-unavailable');
  assert.ok(Date.now() - t0 <= TIMEOUT_MS + 100);
  await exactlyOneAnswer(id);
});
