import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { accountJid, parseXml } from '@dbroker/protocol';
import { createMemoryNodeLog, createMemoryRosterLookup, createRosterAccessPolicy, decideNodeRead, DEFAULT_NODE_CONFIG, type AccessPolicy, type NodeLogReader, type StoredNode, type StoredNodeEvent } from '@dbroker/pubsub';
import { createMamIqHandler, type MamArchiveDeps } from './archive';
import { MamDeliveryError } from './errors';

// The handler over an in-memory log: paging, filters, access, delivery order and failures.

const ALICE = 'alice@localhost';
const BOB = 'bob@localhost/phone';
const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const NODES: StoredNode[] = [
  { id: 1, service: ALICE, node: 'open', config: { ...DEFAULT_NODE_CONFIG, access_model: 'open' }, createdAt: new Date(T0) },
  { id: 2, service: ALICE, node: 'private', config: { ...DEFAULT_NODE_CONFIG, access_model: 'presence' }, createdAt: new Date(T0) },
  { id: 3, service: ALICE, node: 'empty', config: { ...DEFAULT_NODE_CONFIG, access_model: 'open' }, createdAt: new Date(T0) },
  { id: 4, service: ALICE, node: 'no-payloads', config: { ...DEFAULT_NODE_CONFIG, access_model: 'open', deliver_payloads: false }, createdAt: new Date(T0) },
];

/** Node 1: 25 publishes (one a minute, ids i1..i25) with retracts of i3 and i7 after them; node 2 and 4 a few; seqs interleaved. */
function seedEvents(): StoredNodeEvent[] {
  const events: StoredNodeEvent[] = [];
  let seq = 100;
  const push = (nodeId: number, kind: StoredNodeEvent['kind'], itemId: string, minute: number, publisher = `${ALICE}/desk`) => {
    seq += nodeId === 1 ? 1 : 2;
    events.push({ seq, nodeId, kind, itemId, payload: kind === 'publish' ? `<n xmlns='urn:test'>${itemId}</n>` : null, publisher, requestId: null, at: new Date(T0 + minute * 60_000) });
  };
  for (let i = 1; i <= 25; i++) {
    push(1, 'publish', `i${i}`, i, i % 5 === 0 ? `${ALICE}/phone` : `${ALICE}/desk`);
    if (i === 10) push(1, 'retract', 'i3', i);
    if (i === 20) push(1, 'retract', 'i7', i);
    if (i % 6 === 0) push(2, 'publish', `p${i}`, i);
  }
  push(4, 'publish', 'x1', 30);
  return events;
}

const EVENTS = seedEvents();
const LOG1 = EVENTS.filter((e) => e.nodeId === 1);
const ID = (e: StoredNodeEvent) => String(e.seq);

interface Harness {
  handle: (payload: Element, opts?: { from?: string; type?: string }) => Promise<Element>;
  delivered: Element[];
  counts: number;
  inflight: number;
  maxInflight: number;
  acked: number;
}

function harness(overrides: Partial<MamArchiveDeps> & { policy?: AccessPolicy; failAt?: number; failure?: MamDeliveryError['failure']; ackDelayMs?: (i: number) => number } = {}): Harness {
  const delivered: Element[] = [];
  const base = createMemoryNodeLog(() => EVENTS);
  const h: Harness = { delivered, counts: 0, inflight: 0, maxInflight: 0, acked: 0, handle: async () => xml('iq') };
  const log: NodeLogReader = { ...base, count: (...a) => (h.counts++, base.count(...a)) };
  const handler = createMamIqHandler({
    findNode: async (service, node) => NODES.find((n) => n.service === service && n.node === node),
    mayRead: (node, actor) => decideNodeRead(node, actor, overrides.policy),
    log,
    pageSize: { default: 10, max: 20 },
    ...overrides,
  });
  h.handle = async (payload, opts = {}) => {
    delivered.length = 0;
    const iq = xml('iq', { xmlns: 'jabber:client', type: opts.type ?? 'set', id: 'q1', from: opts.from ?? BOB, to: ALICE }, payload);
    // through text, as the worker gets it
    return await handler(parseXml(iq.toString()), {
      requestId: 'req1',
      deliver: async (message, index) => {
        if (overrides.failAt === index) throw new MamDeliveryError(overrides.failure ?? 'offline', 'test');
        delivered.push(message); // in call order: what the outbound path keeps
        h.inflight++;
        h.maxInflight = Math.max(h.maxInflight, h.inflight);
        await new Promise((r) => setTimeout(r, overrides.ackDelayMs?.(index) ?? 0));
        h.inflight--;
        h.acked++;
      },
    });
  };
  return h;
}

const rsm = (children: Record<string, string | undefined>) =>
  xml('set', { xmlns: 'http://jabber.org/protocol/rsm' }, ...Object.entries(children).map(([k, v]) => xml(k, {}, v ?? '')));
const form = (fields: Record<string, string | string[]>) =>
  xml(
    'x',
    { xmlns: 'jabber:x:data', type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'urn:xmpp:mam:2')),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, ...(Array.isArray(v) ? v : [v]).map((x) => xml('value', {}, x)))),
  );
const query = (node: string, ...children: Element[]) => xml('query', { xmlns: 'urn:xmpp:mam:2', node, queryid: 'qid' }, ...children);

function fin(reply: Element) {
  assert.equal(reply.attrs.type, 'result', reply.toString());
  const f = reply.getChild('fin', 'urn:xmpp:mam:2')!;
  const set = f.getChild('set', 'http://jabber.org/protocol/rsm')!;
  const count = set.getChildText('count');
  return {
    complete: f.attrs.complete,
    first: set.getChildText('first') ?? undefined,
    index: set.getChild('first')?.attrs.index,
    last: set.getChildText('last') ?? undefined,
    count: count === null ? undefined : Number(count),
  };
}
const ids = (h: Harness) => h.delivered.map((m) => m.getChild('result')!.attrs.id!);
function errorOf(reply: Element): string {
  assert.equal(reply.attrs.type, 'error', reply.toString());
  return reply.getChild('error')!.getChildElements()[0]!.name;
}

describe('MAM on a node, in memory', () => {
  test('pages forward with max/after: every entry once, in order, fin index/count/complete', async () => {
    const h = harness();
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; ; page++) {
      const reply = await h.handle(query('open', rsm({ max: '7', ...(after ? { after } : {}) })));
      const f = fin(reply);
      seen.push(...ids(h));
      assert.equal(f.count, LOG1.length);
      assert.equal(Number(f.index), page * 7);
      assert.equal(f.first, ids(h)[0]);
      assert.equal(f.last, ids(h).at(-1));
      after = f.last;
      if (f.complete === 'true') break;
      assert.equal(f.complete, 'false');
      assert.ok(page < 10);
    }
    assert.deepEqual(seen, LOG1.map(ID));
    // the messages carry the entry: retracts as <retract/>, stamps, from/to
    const h2 = harness();
    await h2.handle(query('open', rsm({ max: '20' })));
    const retract = h2.delivered.find((m) => m.toString().includes('<retract'))!;
    assert.match(retract.toString(), /<items node="open"><retract id="i3"\/><\/items>/);
    const m0 = h2.delivered[0]!;
    assert.equal(m0.attrs.from, ALICE);
    assert.equal(m0.attrs.to, BOB);
    assert.equal(m0.getChild('result')!.attrs.queryid, 'qid');
    assert.equal(m0.getChild('result')!.getChild('forwarded')!.getChild('delay')!.attrs.stamp, new Date(T0 + 60_000).toISOString());
    assert.match(m0.toString(), /<item id="i1"><n xmlns="urn:test">i1<\/n><\/item>/);
  });

  test('pages backward from an empty <before/>: the last page first, then before=first, to the start', async () => {
    const h = harness();
    const pages: string[][] = [];
    let before = '';
    for (;;) {
      const f = fin(await h.handle(query('open', rsm({ max: '10', before }))));
      pages.push(ids(h));
      assert.equal(f.count, LOG1.length);
      assert.equal(Number(f.index), LOG1.length - pages.flat().length);
      if (f.complete === 'true') break;
      before = f.first!;
    }
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 7]);
    assert.deepEqual(pages.reverse().flat(), LOG1.map(ID));
  });

  test('the default and maximum page sizes apply; max 0 answers the count only', async () => {
    const h = harness();
    await h.handle(query('open'));
    assert.equal(h.delivered.length, 10, 'default page');
    await h.handle(query('open', rsm({ max: '1000' })));
    assert.equal(h.delivered.length, 20, 'clamped to the maximum');
    const f = fin(await h.handle(query('open', rsm({ max: '0' }))));
    assert.equal(h.delivered.length, 0);
    assert.deepEqual(f, { complete: 'false', first: undefined, index: undefined, last: undefined, count: LOG1.length });
  });

  test('a page that is the whole result set needs no count query; a deeper page does', async () => {
    const h = harness();
    const f = fin(await h.handle(query('empty')));
    assert.deepEqual(f, { complete: 'true', first: undefined, index: undefined, last: undefined, count: 0 });
    const all = fin(await h.handle(query('open', rsm({ max: '100' }), form({ start: new Date(T0 + 20 * 60_000).toISOString() }))));
    assert.equal(all.complete, 'true');
    assert.equal(h.counts, 0);
    await h.handle(query('open', rsm({ max: '3' })));
    assert.equal(h.counts, 1);
  });

  test('flip-page reverses the sending order only', async () => {
    const h = harness();
    const straight = fin(await h.handle(query('open', rsm({ max: '5' }))));
    const order = ids(h);
    const flipped = fin(await h.handle(query('open', rsm({ max: '5' }), xml('flip-page'))));
    assert.deepEqual(ids(h), [...order].reverse());
    assert.deepEqual(flipped, straight);
  });

  test('filters: start/end (inclusive), with (bare matches resources, full exact), ids, after-id/before-id', async () => {
    const h = harness();
    const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
    const inWindow = LOG1.filter((e) => e.at.getTime() >= T0 + 5 * 60_000 && e.at.getTime() <= T0 + 10 * 60_000);
    let f = fin(await h.handle(query('open', form({ start: at(5), end: at(10) }))));
    assert.deepEqual(ids(h), inWindow.map(ID));
    assert.equal(f.count, inWindow.length);
    assert.equal(f.complete, 'true');
    // page within a time window: the count is the window's, the index relative to it
    f = fin(await h.handle(query('open', form({ start: at(5), end: at(10) }), rsm({ max: '2', after: ID(inWindow[1]!) }))));
    assert.deepEqual(ids(h), inWindow.slice(2, 4).map(ID));
    assert.equal(f.index, '2');
    assert.equal(f.count, inWindow.length);

    await h.handle(query('open', form({ with: `${ALICE}/phone` }), rsm({ max: '20' })));
    assert.deepEqual(ids(h), LOG1.filter((e) => e.publisher === `${ALICE}/phone`).map(ID));
    f = fin(await h.handle(query('open', form({ with: ALICE }))));
    assert.equal(f.count, LOG1.length);
    f = fin(await h.handle(query('open', form({ with: 'mallory@localhost' }))));
    assert.equal(f.count, 0);

    const wanted = [LOG1[4]!, LOG1[0]!, LOG1[20]!];
    await h.handle(query('open', form({ ids: wanted.map(ID) })));
    assert.deepEqual(ids(h), [LOG1[0]!, LOG1[4]!, LOG1[20]!].map(ID), 'in archive order');

    f = fin(await h.handle(query('open', form({ 'after-id': ID(LOG1[2]!), 'before-id': ID(LOG1[6]!) }))));
    assert.deepEqual(ids(h), LOG1.slice(3, 6).map(ID));
    assert.equal(f.complete, 'true');
    // before-id does not page backwards (XEP-0313 §8); RSM before does
    await h.handle(query('open', form({ 'before-id': ID(LOG1[15]!) }), rsm({ max: '2' })));
    assert.deepEqual(ids(h), LOG1.slice(0, 2).map(ID));
    await h.handle(query('open', rsm({ max: '2', before: ID(LOG1[15]!) })));
    assert.deepEqual(ids(h), LOG1.slice(13, 15).map(ID));
  });

  test('unknown UIDs are item-not-found: after, before, after-id, before-id, ids, a seq of another node, garbage', async () => {
    const h = harness();
    const other = EVENTS.find((e) => e.nodeId === 2)!;
    for (const payload of [
      query('open', rsm({ after: '999999' })),
      query('open', rsm({ before: ID(other) })),
      query('open', rsm({ after: 'not-an-id' })),
      query('open', form({ 'after-id': '0' })),
      query('open', form({ 'before-id': '00101' })),
      query('open', form({ ids: [ID(LOG1[0]!), '99999999999999999999'] })),
    ]) {
      assert.equal(errorOf(await h.handle(payload)), 'item-not-found', payload.toString());
      assert.equal(h.delivered.length, 0);
    }
  });

  test('access: the PEP read decision; strangers on non-open nodes see no node, the owner and policy-admitted read', async () => {
    const h = harness();
    assert.equal(errorOf(await h.handle(query('private'))), 'item-not-found');
    assert.equal(errorOf(await h.handle(xml('metadata', { xmlns: 'urn:xmpp:mam:2', node: 'private' }), { type: 'get' })), 'item-not-found');
    assert.equal(fin(await h.handle(query('private'), { from: `${ALICE}/desk` })).count, 4);
    // BOB is in ALICE's roster with a presence subscription: the presence node admits him
    const admitted = harness({ policy: createRosterAccessPolicy(createMemoryRosterLookup({ [ALICE]: [{ jid: accountJid(BOB), subscription: 'both', groups: [] }] })) });
    assert.equal(fin(await admitted.handle(query('private'))).count, 4);
    assert.equal(errorOf(await h.handle(query('nope'))), 'item-not-found');
  });

  test('payloads are left out on a node that does not deliver them', async () => {
    const h = harness();
    await h.handle(query('no-payloads'));
    assert.match(h.delivered[0]!.toString(), /<item id="x1"\/>/);
  });

  test('form discovery, metadata, bad forms, a query without node', async () => {
    const h = harness();
    const form1 = await h.handle(xml('query', { xmlns: 'urn:xmpp:mam:2', node: 'open' }), { type: 'get' });
    assert.equal(form1.attrs.type, 'result');
    assert.equal(form1.getChild('query', 'urn:xmpp:mam:2')?.getChild('x', 'jabber:x:data')?.attrs.type, 'form');
    const md = await h.handle(xml('metadata', { xmlns: 'urn:xmpp:mam:2', node: 'open' }), { type: 'get' });
    const m = md.getChild('metadata', 'urn:xmpp:mam:2')!;
    assert.equal(m.getChild('start')?.attrs.id, ID(LOG1[0]!));
    assert.equal(m.getChild('end')?.attrs.id, ID(LOG1.at(-1)!));
    assert.equal((await h.handle(xml('metadata', { xmlns: 'urn:xmpp:mam:2', node: 'empty' }), { type: 'get' })).getChild('metadata')?.children.length, 0);
    assert.equal(errorOf(await h.handle(query('open', form({ start: 'last tuesday' })))), 'bad-request');
    assert.equal(errorOf(await h.handle(query('open', form({ 'x-unknown': '1' })))), 'feature-not-implemented');
    assert.equal(errorOf(await h.handle(xml('query', { xmlns: 'urn:xmpp:mam:2' }))), 'service-unavailable');
  });

  test('mam:1 answers in mam:1', async () => {
    const h = harness();
    const reply = await h.handle(xml('query', { xmlns: 'urn:xmpp:mam:1', node: 'open' }, rsm({ max: '2' })));
    assert.ok(reply.getChild('fin', 'urn:xmpp:mam:1'));
    assert.equal(h.delivered[0]!.getChild('result')!.attrs.xmlns, 'urn:xmpp:mam:1');
  });

  test('a delivery failure stops the query and becomes its error; internal errors do not leak', async () => {
    const offline = harness({ failAt: 2 });
    const reply = await offline.handle(query('open'));
    assert.equal(errorOf(reply), 'internal-server-error');
    assert.equal(reply.getChild('error')!.attrs.type, 'wait');
    assert.equal(offline.delivered.length, 2, 'nothing after the failed message');
    const noPerm = harness({ failAt: 0, failure: 'unavailable' });
    assert.equal(errorOf(await noPerm.handle(query('open'))), 'service-unavailable');
    const broken = harness({ findNode: async () => { throw new Error('connection refused to 10.0.0.7'); } });
    const r = await broken.handle(query('open'));
    assert.equal(errorOf(r), 'internal-server-error');
    assert.doesNotMatch(r.toString(), /10\.0\.0\.7/);
  });

  test('a send window pipelines deliveries in order, bounded, all acknowledged before the reply', async () => {
    const h = harness({ sendWindow: 4, ackDelayMs: (i) => (i % 3) * 3 });
    const reply = await h.handle(query('open', rsm({ max: '20' })));
    assert.equal(reply.attrs.type, 'result');
    assert.equal(h.acked, 20, 'every delivery settled before the reply');
    assert.equal(h.maxInflight, 4);
    assert.deepEqual(ids(h), LOG1.slice(0, 20).map(ID), 'handed over in archive order');
    const one = harness({ ackDelayMs: () => 1 });
    await one.handle(query('open', rsm({ max: '5' })));
    assert.equal(one.maxInflight, 1, 'default: one at a time');
    const failing = harness({ sendWindow: 4, failAt: 2 });
    const r = await failing.handle(query('open', rsm({ max: '20' })));
    assert.equal(errorOf(r), 'internal-server-error');
    assert.ok(failing.delivered.length < 20, 'stops handing over after a failure');
  });

  test('counting bounded by countMax: exact up to it, left out beyond; 0 never counts', async () => {
    const capped = harness({ countMax: 20 });
    let c = fin(await capped.handle(query('open', rsm({ max: '3', after: ID(LOG1[3]!) }))));
    assert.equal(c.count, undefined, '27 entries: more than 20');
    assert.equal(c.index, '4');
    c = fin(await capped.handle(query('open', rsm({ max: '3', after: ID(LOG1[22]!) }))));
    assert.equal(c.index, undefined, '23 entries before the page: more than 20');
    c = fin(await capped.handle(query('open', rsm({ max: '3' }))));
    assert.equal(c.index, '0', 'the first page needs no count for its index');
    c = fin(await capped.handle(query('open', form({ 'after-id': ID(LOG1[9]!) }), rsm({ max: '3' }))));
    assert.equal(c.count, 17);
    const h = harness({ countMax: 0 });
    const f = fin(await h.handle(query('open', rsm({ max: '3', after: ID(LOG1[3]!) }))));
    assert.equal(f.count, undefined);
    assert.equal(f.index, undefined);
    assert.equal(h.counts, 0);
    assert.equal(fin(await h.handle(query('open', rsm({ max: '3' })))).index, '0');
    const small = fin(await h.handle(query('open', form({ 'after-id': ID(LOG1[9]!) }), rsm({ max: '20' }))));
    assert.equal(small.complete, 'true');
    assert.equal(small.count, LOG1.length - 10);
    assert.equal(small.index, '0');
  });
});
