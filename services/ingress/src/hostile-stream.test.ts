import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { startWorker, type RequestEnvelope, type WorkerHandle } from '@dbroker/bus';
import { parseForwardedIq, parseXml, salvageInner } from '@dbroker/protocol';
import { createLogger } from '@dbroker/telemetry';
import { COMPONENT, SERVER, startIngressFixture, until, type IngressFixture } from './test-fixture';

// The component stream against hostile input: stanzas over each parsing limit get exactly one proper
// answer and the stream lives on; a fuzz run of mutated forwarded IQs never crashes the ingress, never
// answers twice, answers every well-formed request and never routes what should be refused.
const DLG2 = 'urn:xmpp:delegation:2';
const DLG1 = 'urn:xmpp:delegation:1';
const PUBSUB = 'http://jabber.org/protocol/pubsub';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const LIMITS = { bytes: 16_384, depth: 32, elements: 200, attributes: 16, attributeBytes: 4096, textBytes: 8192 };

let fx: IngressFixture;
let worker: WorkerHandle;
const routed: RequestEnvelope[] = [];
let seq = 0;
const logger = createLogger({ service: 'hostile-stream-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function advertise(): void {
  fx.fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('delegation', { xmlns: DLG2 }, xml('delegated', { namespace: PUBSUB }))));
}

before(async () => {
  fx = await startIngressFixture('hostile-stream-test', {
    REQUEST_TIMEOUT_MS: '2000',
    MAX_STANZA_BYTES: String(LIMITS.bytes),
    MAX_STANZA_DEPTH: String(LIMITS.depth),
    MAX_STANZA_ELEMENTS: String(LIMITS.elements),
    MAX_STANZA_ATTRIBUTES: String(LIMITS.attributes),
    MAX_ATTRIBUTE_BYTES: String(LIMITS.attributeBytes),
    MAX_TEXT_BYTES: String(LIMITS.textBytes),
    PING_INTERVAL_MS: '60000',
    RECONNECT_INITIAL_MS: '10',
    PING_TIMEOUT_MS: '2000',
  });
  advertise();
  await until(() => fx.ingress.grants.has(PUBSUB));
  worker = startWorker({
    nc: fx.bus.nc,
    subjects: ['xmpp.req.*.pubsub'],
    queue: 'pep',
    concurrency: 64,
    workerId: 'w-fuzz',
    logger,
    handle: async (req) => {
      routed.push(req);
      return `<iq xmlns='jabber:client' type='result' id='${xmlEscape(req.iqId)}' from='${xmlEscape(req.to)}' to='${xmlEscape(req.from)}'/>`;
    },
  });
  await fx.bus.nc.flush();
});

after(async () => {
  await worker?.stop();
  await fx?.stop();
});

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** A forwarded IQ as the server would send it, serialized, with `payload` (XML text) inside the inner IQ. */
function forwardedText(opts: { id?: string; innerId?: string; version?: string; payload?: string; innerType?: string; innerFrom?: string; innerTo?: string } = {}) {
  const n = ++seq;
  const id = opts.id ?? `h${n}`;
  const innerId = opts.innerId ?? `hi${n}`;
  const payload = opts.payload ?? `<pubsub xmlns='${PUBSUB}'><items node='urn:xmpp:avatar:metadata'/></pubsub>`;
  const text =
    `<iq from='${SERVER}' to='${COMPONENT}' id='${id}' type='set'><delegation xmlns='${opts.version ?? DLG2}'><forwarded xmlns='urn:xmpp:forward:0'>` +
    `<iq xmlns='jabber:client' from='${opts.innerFrom ?? 'alice@localhost/res'}' to='${opts.innerTo ?? 'alice@localhost'}' id='${innerId}' type='${opts.innerType ?? 'get'}'>${payload}</iq>` +
    `</forwarded></delegation></iq>`;
  return { id, innerId, text };
}

// Stanzas the fake server received, by id (indexed as they come: the fuzz asks thousands of times).
const byId = new Map<string, Element[]>();
let indexed = 0;
function answersTo(id: string): Element[] {
  const received = fx.fake.received;
  for (; indexed < received.length; indexed++) {
    const e = received[indexed]!;
    const key = e.attrs.id ?? '';
    const list = byId.get(key);
    if (list) list.push(e);
    else byId.set(key, [e]);
  }
  return byId.get(id) ?? [];
}

function innerOf(outer: Element): Element | undefined {
  return outer.getChild('delegation')?.getChild('forwarded')?.getChild('iq');
}

function conditionOf(iq: Element): string | undefined {
  return iq.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === STANZAS && c.name !== 'text')?.name;
}

async function metric(name: string, label: string): Promise<number> {
  const text = await fx.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** The wrapper rules of protocol-notes §1.4 for an error answer to a forwarded IQ. */
function assertWrappedError(outer: Element, req: { id: string; innerId: string }, version: string, condition: string): Element {
  assert.equal(outer.attrs.type, 'result', `never an outer error: ${outer.toString()}`);
  assert.equal(outer.attrs.id, req.id);
  assert.equal(outer.attrs.to, SERVER);
  assert.equal(outer.attrs.from, COMPONENT);
  assert.equal(outer.children.length, 1);
  const delegation = outer.getChildElements()[0]!;
  assert.equal(delegation.attrs.xmlns, version);
  assert.equal(delegation.children.length, 1);
  const inner = innerOf(outer)!;
  assert.ok(inner, outer.toString());
  assert.equal(inner.attrs.xmlns, 'jabber:client');
  assert.equal(inner.attrs.type, 'error');
  assert.equal(inner.attrs.id, req.innerId);
  assert.equal(inner.attrs.to, 'alice@localhost/res');
  assert.equal(inner.attrs.from, 'alice@localhost');
  assert.equal(conditionOf(inner), condition);
  assert.equal(inner.getChild('error')?.attrs.type, 'modify');
  assert.ok(!/>\s+</.test(outer.toString()), 'no whitespace text nodes');
  return inner;
}

test('an 8,000-deep publish gets exactly one wrapped not-acceptable/payload-too-big; the next request on the same stream works', async () => {
  const connections = fx.fake.connections();
  const before = await metric('dbroker_ingress_rejected_stanzas_total', 'reason="too-deep"');
  const deep = '<a>'.repeat(8000) + '</a>'.repeat(8000);
  const bad = forwardedText({ innerType: 'set', payload: `<pubsub xmlns='${PUBSUB}'><publish node='n'><item id='1'>${deep}</item></publish></pubsub>` });
  assert.ok(bad.text.length < 60_000);
  const good = forwardedText();
  fx.fake.send(bad.text);
  fx.fake.send(good.text);
  const outer = await fx.fake.waitFor((e) => e.attrs.id === bad.id);
  const inner = assertWrappedError(outer, bad, DLG2, 'not-acceptable');
  assert.ok(inner.getChild('error')?.getChild('payload-too-big', 'http://jabber.org/protocol/pubsub#errors'));
  const ok = await fx.fake.waitFor((e) => e.attrs.id === good.id);
  assert.equal(innerOf(ok)?.attrs.type, 'result', 'the next request on the same stream is served');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(answersTo(bad.id).length, 1);
  assert.equal(answersTo(good.id).length, 1);
  assert.equal(fx.fake.connections(), connections, 'same stream');
  assert.equal(routed.filter((r) => r.iqId === bad.innerId).length, 0, 'never routed');
  assert.equal(await metric('dbroker_ingress_rejected_stanzas_total', 'reason="too-deep"'), before + 1);
  await until(() => fx.audit.some((e) => e.type === 'request.rejected' && e.reason.startsWith('too-deep')), 3000, 'request.rejected audit event');
  const ev = fx.audit.find((e) => e.type === 'request.rejected' && e.reason.startsWith('too-deep'));
  assert.equal(ev?.type === 'request.rejected' && ev.condition, 'not-acceptable');
});

test('every limit, just over it: one wrapped policy-violation in the version received; at the limit: served', async () => {
  const over: Array<[string, string, string]> = [
    // [limit, payload, reason label]
    ['depth', `<pubsub xmlns='${PUBSUB}'><items node='n'>${'<x>'.repeat(LIMITS.depth - 5)}${'</x>'.repeat(LIMITS.depth - 5)}</items></pubsub>`, 'too-deep'],
    ['elements', `<pubsub xmlns='${PUBSUB}'><items node='n'>${'<x/>'.repeat(LIMITS.elements)}</items></pubsub>`, 'too-many-elements'],
    ['attributes', `<pubsub xmlns='${PUBSUB}'><items node='n' ${Array.from({ length: LIMITS.attributes }, (_, i) => `a${i}='1'`).join(' ')}/></pubsub>`, 'too-many-attributes'],
    ['attribute bytes', `<pubsub xmlns='${PUBSUB}'><items node='${'n'.repeat(LIMITS.attributeBytes + 1)}'/></pubsub>`, 'attribute-too-long'],
    ['text bytes', `<pubsub xmlns='${PUBSUB}'><items node='n'>${'t'.repeat(LIMITS.textBytes + 1)}</items></pubsub>`, 'text-too-long'],
    ['bytes', `<pubsub xmlns='${PUBSUB}'><items node='n'>${`<x>${'t'.repeat(LIMITS.textBytes - 100)}</x>`.repeat(3)}</items></pubsub>`, 'too-large'],
  ];
  for (const version of [DLG2, DLG1]) {
    for (const [limit, payload, reason] of over) {
      const before = await metric('dbroker_ingress_rejected_stanzas_total', `reason="${reason}"`);
      const req = forwardedText({ version, payload });
      fx.fake.send(req.text);
      const outer = await fx.fake.waitFor((e) => e.attrs.id === req.id, 3000).catch(() => assert.fail(`no answer over the ${limit} limit`));
      assertWrappedError(outer, req, version, 'policy-violation');
      assert.equal(await metric('dbroker_ingress_rejected_stanzas_total', `reason="${reason}"`), before + 1, reason);
    }
  }
  // At the limits (the envelope takes 4 levels, 4 elements and the inner iq's attributes).
  const atLimit = [
    `<pubsub xmlns='${PUBSUB}'><items node='n'>${'<x>'.repeat(LIMITS.depth - 6)}${'</x>'.repeat(LIMITS.depth - 6)}</items></pubsub>`,
    `<pubsub xmlns='${PUBSUB}'><items node='n'>${'<x/>'.repeat(LIMITS.elements - 6)}</items></pubsub>`,
    `<pubsub xmlns='${PUBSUB}'><items ${Array.from({ length: LIMITS.attributes }, (_, i) => `a${i}='1'`).join(' ')}/></pubsub>`,
    `<pubsub xmlns='${PUBSUB}'><items node='${'n'.repeat(LIMITS.attributeBytes)}'/></pubsub>`,
    `<pubsub xmlns='${PUBSUB}'><items node='n'>${'t'.repeat(LIMITS.textBytes)}</items></pubsub>`,
  ];
  for (const payload of atLimit) {
    const req = forwardedText({ payload });
    fx.fake.send(req.text);
    const outer = await fx.fake.waitFor((e) => e.attrs.id === req.id, 3000);
    assert.equal(innerOf(outer)?.attrs.type, 'result', `served at the limit: ${outer.toString().slice(0, 300)}`);
  }
});

test('over-limit stanzas that are not delegations: IQ requests get a plain error, the rest is dropped; the stream lives on', async () => {
  const connections = fx.fake.connections();
  const big = 'x'.repeat(LIMITS.attributeBytes + 10);
  fx.fake.send(`<iq from='${SERVER}' to='${COMPONENT}' id='nd1' type='get'><query xmlns='urn:x' v='${big}'/></iq>`);
  fx.fake.send(`<message from='${SERVER}' to='${COMPONENT}' id='nd2'><body>${'<b>'.repeat(100)}${'</b>'.repeat(100)}</body></message>`);
  fx.fake.send(`<presence from='alice@localhost/r' to='${COMPONENT}' id='nd3'>${'<c/>'.repeat(500)}</presence>`);
  fx.fake.send(`<iq from='${SERVER}' to='${COMPONENT}' id='nd4' type='result'>${'<c/>'.repeat(500)}</iq>`);
  fx.fake.send(`<iq from='${SERVER}' to='${COMPONENT}' id='nd5' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const err = await fx.fake.waitFor((e) => e.attrs.id === 'nd1');
  assert.equal(err.attrs.type, 'error');
  assert.equal(conditionOf(err), 'policy-violation');
  const pong = await fx.fake.waitFor((e) => e.attrs.id === 'nd5');
  assert.equal(pong.attrs.type, 'result');
  assert.equal(answersTo('nd2').length + answersTo('nd3').length + answersTo('nd4').length, 0);
  assert.equal(fx.fake.connections(), connections);
});

test('malformed XML closes the stream like a server would; the ingress reconnects and serves again', async () => {
  const connections = fx.fake.connections();
  const before = await metric('dbroker_ingress_rejected_stanzas_total', 'reason="stream-malformed-xml"');
  fx.fake.send(`<iq from='${SERVER}' to='${COMPONENT}' id='m1' type='get'><a></b></iq>`);
  await until(() => fx.fake.connections() > connections, 5000, 'reconnect');
  await fx.fake.waitForConnection();
  advertise();
  await until(() => fx.ingress.grants.has(PUBSUB));
  const good = forwardedText();
  fx.fake.send(good.text);
  const ok = await fx.fake.waitFor((e) => e.attrs.id === good.id);
  assert.equal(innerOf(ok)?.attrs.type, 'result');
  assert.equal(await metric('dbroker_ingress_rejected_stanzas_total', 'reason="stream-malformed-xml"'), before + 1);
  assert.ok(fx.fake.received.some((e) => e.name === 'stream:error' && e.getChild('bad-format')), 'bad-format stream error sent');
});

// ---------------------------------------------------------------------------------------------------
// Fuzz through the ingress

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

type Rng = ReturnType<typeof rng>;

const JIDS = ['alice@localhost/res', 'alice@localhost', 'bob@localhost/x', 'mallory@evil.example/r', `${COMPONENT}`, `x@${COMPONENT}/r`, 'localhost', '', '@localhost', 'a@b@c', 'ALICE@LocalHost/Res', 'a'.repeat(1100) + '@localhost'];
const NAMESPACES = [DLG2, DLG1, 'urn:xmpp:delegation:3', 'urn:xmpp:forward:0', 'jabber:client', 'jabber:server', PUBSUB, `${PUBSUB}#owner`, 'urn:xmpp:mam:2', ''];
const PAYLOADS = [
  `<pubsub xmlns='${PUBSUB}'><items node='urn:xmpp:avatar:metadata'/></pubsub>`,
  `<pubsub xmlns='${PUBSUB}'><publish node='eu.siacs.conversations.axolotl.bundles:1'><item id='current'><bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>QUJD</signedPreKeyPublic><prekeys><preKeyPublic preKeyId='1'>QUJD</preKeyPublic><preKeyPublic preKeyId='2'>REVG</preKeyPublic></prekeys></bundle></item></publish></pubsub>`,
  `<pubsub xmlns='${PUBSUB}'><publish node='urn:xmpp:avatar:data'><item id='abc'><data xmlns='urn:xmpp:avatar:data'>${'QUJD'.repeat(200)}</data></item></publish></pubsub>`,
  `<pubsub xmlns='${PUBSUB}'><publish node='n'><item><html xmlns='http://www.w3.org/1999/xhtml'><body><p>a <b>b &amp; <i>c</i></b> &#x1F600;</p></body></html></item></publish></pubsub>`,
];

const mutations: Array<[string, (s: string, r: Rng) => string]> = [
  ['byte flip', (s, r) => {
    const i = r.int(s.length);
    // Mostly bytes that keep the XML well-formed (the stream survives them), sometimes markup breakers.
    const safe = ['a', ' ', '\u00e9', '0', 'Z', '\u{1F600}'];
    const breaking = ['<', '>', '/', "'", '"', '=', '&', '\u0000', '\uD800', ']]>', '<!--', '<?x?>', '&#0;', '&foo;'];
    return s.slice(0, i) + (r.next() < 0.8 ? r.pick(safe) : r.pick(breaking)) + s.slice(i + 1);
  }],
  ['truncation', (s, r) => (r.next() < 0.3 ? s.slice(0, r.int(s.length)) : s)],
  ['duplication', (s, r) => {
    const start = s.indexOf('>') + 1;
    const end = s.lastIndexOf('<');
    const a = start + r.int(end - start);
    const b = a + r.int(Math.min(200, end - a));
    const seg = s.slice(a, b);
    return s.slice(0, b) + seg.repeat(1 + r.int(3)) + s.slice(b);
  }],
  ['deep nesting', (s, r) => {
    const at = s.lastIndexOf('</item>') >= 0 ? s.lastIndexOf('</item>') : s.lastIndexOf('</pubsub>');
    const k = r.pick([5, 20, LIMITS.depth - 8, LIMITS.depth, 200, 8000]);
    return s.slice(0, at) + '<n>'.repeat(k) + '</n>'.repeat(k) + s.slice(at);
  }],
  ['siblings', (s, r) => {
    const at = s.lastIndexOf('</pubsub>');
    return s.slice(0, at) + '<s/>'.repeat(r.pick([10, LIMITS.elements - 10, LIMITS.elements, 5000])) + s.slice(at);
  }],
  ['attribute blow-up', (s, r) => {
    const tags = [...s.matchAll(/<(iq|delegation|forwarded|pubsub|items|publish|item)\b/g)];
    if (tags.length === 0) return s;
    const m = r.pick(tags);
    const at = m.index! + m[0].length;
    const attr = r.next() < 0.5
      ? Array.from({ length: r.pick([3, LIMITS.attributes, 100]) }, (_, i) => ` z${i}='v'`).join('')
      : ` big='${'v'.repeat(r.pick([100, LIMITS.attributeBytes, LIMITS.attributeBytes + 1, 50_000]))}'`;
    return s.slice(0, at) + attr + s.slice(at);
  }],
  ['huge text', (s, r) => {
    const at = s.lastIndexOf('</pubsub>');
    return s.slice(0, at) + `<t>${'&amp;'.repeat(r.pick([10, LIMITS.textBytes / 5, LIMITS.textBytes]))}</t>` + s.slice(at);
  }],
  ['namespace swap', (s, r) => {
    const m = [...s.matchAll(/xmlns='[^']*'/g)];
    if (m.length === 0) return s;
    const x = r.pick(m);
    return s.slice(0, x.index!) + `xmlns='${r.pick(NAMESPACES)}'` + s.slice(x.index! + x[0].length);
  }],
  ['inner spoofing', (s, r) => {
    const attr = r.pick(['from', 'to']);
    const re = new RegExp(`(<iq xmlns='jabber:client'[^>]*?\\b${attr}=')([^']*)(')`);
    return s.replace(re, (_m, a: string, _v: string, c: string) => a + r.pick(JIDS) + c);
  }],
  ['outer spoofing', (s, r) => s.replace(/^<iq from='[^']*'/, `<iq from='${r.pick(JIDS)}'`)],
  ['type swap', (s, r) => s.replace(r.next() < 0.5 ? /type='set'/ : /type='(get|set)'>/, (m) => m.replace(/'[a-z]+'/, `'${r.pick(['get', 'set', 'result', 'error', 'chat', ''])}'`))],
];

const GENEROUS = { maxBytes: Number.POSITIVE_INFINITY, maxDepth: 1e6, maxElements: Number.POSITIVE_INFINITY, maxAttributes: Number.POSITIVE_INFINITY, maxAttributeBytes: Number.POSITIVE_INFINITY, maxTextBytes: Number.POSITIVE_INFINITY };

interface Case {
  text: string;
  /** The inner IQ id before mutation. */
  innerId: string;
  /** Well-formed as one element (strict parser, no limits). */
  el: Element | null;
}

function whyMalformed(text: string): string {
  try {
    parseXml(text, GENEROUS);
    return 'well-formed';
  } catch (err) {
    const at = (err as { offset?: number }).offset ?? 0;
    return `${(err as Error).message} near ${JSON.stringify(text.slice(Math.max(0, at - 80), at + 80))}`;
  }
}

/** The first root element of `text` when the rest is another root (what a stream reads as two stanzas). */
function firstStanzaOf(text: string): { el: Element; text: string } | null {
  try {
    parseXml(text, GENEROUS);
    return null;
  } catch (err) {
    const offset = (err as { offset?: number }).offset;
    if (!/more than one root element/.test((err as Error).message) || offset === undefined) return null;
    try {
      const first = text.slice(0, offset);
      return { el: parseXml(first, GENEROUS), text: first };
    } catch {
      return null;
    }
  }
}

function makeCase(r: Rng): Case {
  const base = forwardedText({ version: r.pick([DLG2, DLG1]), payload: r.pick(PAYLOADS), innerType: r.pick(['get', 'set']) });
  let text = base.text;
  const rounds = 1 + (r.next() < 0.3 ? 1 : 0);
  for (let k = 0; k < rounds; k++) text = r.pick(mutations)[1](text, r);
  // What goes on the wire: a lone surrogate becomes U+FFFD in UTF-8.
  text = Buffer.from(text, 'utf8').toString('utf8');
  let el: Element | null = null;
  try {
    el = parseXml(text, GENEROUS);
  } catch {
    el = null;
  }
  return { text, el, innerId: base.innerId };
}

/** Requests the ingress must answer exactly once: an IQ get/set with an id. */
function expectsAnswer(el: Element | null): el is Element {
  return !!el && el.name === 'iq' && (el.attrs.type === 'get' || el.attrs.type === 'set') && !!el.attrs.id;
}

test('fuzz: thousands of mutated forwarded IQs through the component stream', async () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const r = rng(seed);
  const budgetMs = Number(process.env.FUZZ_MS ?? 25_000);
  const t0 = Date.now();
  const expected = new Map<string, Case>();
  const allCases: Case[] = [];
  let total = 0;
  let wellFormed = 0;
  let malformed = 0;
  let forcedDrops = 0;
  let probe = 0;
  const routedBefore = routed.length;
  const receivedBefore = fx.fake.received.length;

  // Polls every millisecond (the fixture's `until` waits 10 ms between checks; reconnects are frequent here).
  const poll = async (cond: () => boolean, what: string, timeoutMs = 5000) => {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > timeoutMs) throw new Error(`${what} not met in time (seed ${seed})`);
      await new Promise((res) => setTimeout(res, 1));
    }
  };
  const reconnect = async () => {
    await fx.fake.waitForConnection(10_000);
    advertise();
    await poll(() => fx.ingress.grants.has(PUBSUB), 'grants after reconnect');
  };

  while (Date.now() - t0 < budgetMs) {
    // A batch of well-formed cases, sent back to back; malformed ones one at a time, followed by a probe.
    const batch: Case[] = [];
    while (batch.length < 100) {
      const c = makeCase(r);
      allCases.push(c);
      total++;
      if (c.el) {
        batch.push(c);
        continue;
      }
      malformed++;
      const connections = fx.fake.connections();
      fx.fake.send(c.text);
      const probeId = `probe${++probe}`;
      fx.fake.send(`<iq from='${SERVER}' to='${COMPONENT}' id='${probeId}' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`);
      const waitStart = Date.now();
      let answered = false;
      while (Date.now() - waitStart < 150 && fx.fake.connections() === connections && !(answered = answersTo(probeId).length > 0)) {
        await new Promise((res) => setTimeout(res, 1));
      }
      if (!answered) {
        // The stream is closed (or waiting for the rest of a truncated stanza: a server closes it then).
        if (fx.fake.connections() === connections) {
          forcedDrops++;
          fx.fake.dropConnection();
        }
        await poll(() => fx.fake.connections() > connections, 'reconnect after malformed input');
        await reconnect();
      }
      if (Date.now() - t0 >= budgetMs) break;
    }
    const connections = fx.fake.connections();
    for (const c of batch) {
      wellFormed++;
      if (expectsAnswer(c.el)) expected.set(c.el.attrs.id!, c);
      fx.fake.send(c.text);
    }
    const ids = batch.filter((c) => expectsAnswer(c.el)).map((c) => c.el!.attrs.id!);
    await poll(() => ids.every((id) => answersTo(id).length > 0) || fx.fake.connections() !== connections, `answers to a batch of ${ids.length}`, 10_000);
    assert.equal(fx.fake.connections(), connections, `a well-formed stanza closed the stream (seed ${seed})`);
  }
  await new Promise((res) => setTimeout(res, 300));

  // Exactly one answer to every well-formed request; never an outer error to the server for a delegation.
  // A mutation can give a stanza the id of another case: such ids have several rightful answers.
  const idUses = new Map<string, number>();
  for (const c of allCases) {
    const id = c.el?.attrs.id ?? /^<iq\b[^>]*?\sid='([^']*)'/.exec(c.text)?.[1];
    if (id !== undefined) idUses.set(id, (idUses.get(id) ?? 0) + 1);
  }
  for (const [id, c] of expected) {
    if ((idUses.get(id) ?? 0) > 1) continue;
    const answers = answersTo(id);
    assert.equal(answers.length, 1, `exactly one answer to ${c.text.slice(0, 300)} (seed ${seed})`);
    const a = answers[0]!;
    // A forwarded IQ from the server whose inner IQ can be addressed never gets an outer error (ejabberd
    // would leave the client hanging); only what is no usable delegation at all may.
    if (c.el!.attrs.from === SERVER && c.el!.attrs.type === 'set' && salvageInner(c.el!)) {
      assert.equal(a.attrs.type, 'result', `outer error to a delegation: ${a.toString()} for ${c.text.slice(0, 300)} (seed ${seed})`);
      assert.ok(innerOf(a), `a wrapper: ${a.toString()}`);
    }
  }
  // At most one answer to anything (per case sent with that id), malformed cases included.
  const counts = new Map<string, number>();
  // (Requests that lost their id are answered with an empty one: those cannot be told apart.)
  for (const e of fx.fake.received.slice(receivedBefore)) if (e.name !== 'stream:error' && e.attrs.id) counts.set(e.attrs.id ?? '', (counts.get(e.attrs.id ?? '') ?? 0) + 1);
  for (const [id, n] of counts) assert.ok(n <= Math.max(1, idUses.get(id) ?? 0), `${n} answers to id ${id} (seed ${seed}): ${fx.fake.received.slice(receivedBefore).filter((e) => (e.attrs.id ?? '') === id).slice(0, 3).map((e) => e.toString().slice(0, 300)).join(' | ')}`);
  const byInnerId = new Map(allCases.map((x) => [x.innerId, x]));
  // Nothing invalid reached a worker: every routed request comes from a well-formed case the codec accepts.
  const ctx = { serverDomain: SERVER, componentDomain: COMPONENT, maxBytes: LIMITS.bytes };
  for (const env of routed.slice(routedBefore)) {
    const c = byInnerId.get(env.iqId) ?? allCases.find((x) => x.text.includes(`id='${env.iqId}'`));
    // On a stream, text with two roots is two stanzas: the first one is a request in its own right.
    const first = c && !c.el ? firstStanzaOf(c.text) : null;
    const el = c?.el ?? first?.el ?? null;
    assert.ok(c && el, `routed request ${env.iqId} comes from a well-formed case: ${c ? whyMalformed(c.text) : 'unknown'} (seed ${seed})`);
    const parsed = parseForwardedIq(el, ctx);
    assert.ok(parsed.ok, `routed request was acceptable: ${c.text.slice(0, 300)}`);
    assert.ok(c.text.length <= LIMITS.bytes, 'within the byte limit');
    // The limits hold for the stanza as sent (the ingress re-serialises, and escaping may lengthen values).
    assert.doesNotThrow(() => parseXml(first?.text ?? c.text, { maxBytes: LIMITS.bytes, maxDepth: LIMITS.depth, maxElements: LIMITS.elements, maxAttributes: LIMITS.attributes, maxAttributeBytes: LIMITS.attributeBytes, maxTextBytes: LIMITS.textBytes }), 'routed stanza within the limits');
    assert.ok(!env.from.includes(COMPONENT), 'no request from the component domain');
    assert.match(env.to, /^([^@/]+@)?localhost$/, 'target is a local bare JID or the server');
  }
  const elapsed = Date.now() - t0;
  console.log(`fuzz: ${total} cases in ${elapsed} ms (seed ${seed}): ${wellFormed} well-formed (${expected.size} requests answered exactly once, ${routed.length - routedBefore} routed), ${malformed} malformed (${forcedDrops} truncations needed the server to drop the stream)`);
  const floor = Math.min(1000, Math.floor(budgetMs / 25));
  assert.ok(total >= floor, `at least ${floor} cases (${total})`);
});
