import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { startWorker } from '@dbroker/bus';
import { createLogger } from '@dbroker/telemetry';
import { createRateLimiter } from './rate-limit';
import { COMPONENT, SERVER, startIngressFixture, until, type IngressFixture } from './test-fixture';

// Requests per user per second: the token bucket alone (a controlled clock), then the ingress refusing a
// burst over the limit through a real nats-server and a scripted XEP-0114 server, and recovering.

describe('token bucket per requester', () => {
  test('a burst, then refusals (counted in a row), then one request per refilled token', () => {
    let t = 0;
    const limiter = createRateLimiter({ ratePerSecond: 2, burst: 3, maxKeys: 10, now: () => t });
    assert.deepEqual([1, 2, 3].map(() => limiter.take('a').allowed), [true, true, true]);
    assert.deepEqual(limiter.take('a'), { allowed: false, streak: 1 });
    assert.deepEqual(limiter.take('a'), { allowed: false, streak: 2 });
    // another requester has its own bucket
    assert.equal(limiter.take('b').allowed, true);
    t += 499;
    assert.equal(limiter.take('a').allowed, false);
    t += 1; // 500 ms at 2/s: one token
    assert.deepEqual(limiter.take('a'), { allowed: true, streak: 0 });
    assert.equal(limiter.take('a').allowed, false);
    // a long pause refills up to the burst, not beyond
    t += 60_000;
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a').allowed), [true, true, true, false]);
  });

  test('remembers at most maxKeys requesters, the least recently seen forgotten first', () => {
    let t = 0;
    const limiter = createRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 2, now: () => t });
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('b').allowed, true);
    assert.equal(limiter.take('a').allowed, false); // a is now the most recent
    assert.equal(limiter.take('c').allowed, true); // evicts b
    assert.equal(limiter.size(), 2);
    assert.equal(limiter.take('a').allowed, false, 'a was kept (and is still empty)');
    assert.equal(limiter.take('b').allowed, true, 'b was forgotten: a fresh bucket');
    assert.throws(() => createRateLimiter({ ratePerSecond: 0, burst: 1, maxKeys: 1 }), RangeError);
  });
});

describe('ingress rate limit', () => {
  const DLG2 = 'urn:xmpp:delegation:2';
  const PUBSUB = 'http://jabber.org/protocol/pubsub';
  const RATE = 2;
  const BURST = 4;
  let fx: IngressFixture;
  let stopWorker: () => Promise<void>;
  let seq = 0;
  const logger = createLogger({ service: 'rate-test', level: 'silent' });

  before(async () => {
    fx = await startIngressFixture('rate-limit-test', { RATE_LIMIT_PER_SECOND: String(RATE), RATE_LIMIT_BURST: String(BURST), REQUEST_TIMEOUT_MS: '2000' });
    fx.fake.send(xml('message', { from: SERVER, to: COMPONENT }, xml('delegation', { xmlns: DLG2 }, xml('delegated', { namespace: PUBSUB }))));
    await until(() => fx.ingress.grants.has(PUBSUB));
    const worker = startWorker({
      nc: fx.bus.nc,
      subjects: ['xmpp.req.*.pubsub'],
      queue: 'pep',
      concurrency: 8,
      workerId: 'w',
      logger,
      handle: async (req) => `<iq xmlns='jabber:client' type='result' id='${req.iqId}' from='${req.to}' to='${req.from}'/>`,
    });
    stopWorker = () => worker.stop();
    await fx.bus.nc.flush();
  });

  after(async () => {
    await stopWorker?.();
    await fx?.stop();
  });

  function send(from: string): string {
    const id = `rl${++seq}`;
    const inner = xml('iq', { xmlns: 'jabber:client', from, to: 'alice@localhost', id: `in${seq}`, type: 'get' }, xml('pubsub', { xmlns: PUBSUB }, xml('items', { node: 'n' })));
    fx.fake.send(xml('iq', { from: SERVER, to: COMPONENT, id, type: 'set' }, xml('delegation', { xmlns: DLG2 }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' }, inner))));
    return id;
  }
  async function innerAnswer(id: string): Promise<Element> {
    const outer = await fx.fake.waitFor((e) => e.name === 'iq' && e.attrs.id === id, 3000);
    return outer.getChildElements()[0]!.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('iq')!;
  }
  const conditionOf = (iq: Element) => iq.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text')?.name;

  test('a burst passes, the rest is refused with resource-constraint (wait), audited and counted; after a pause requests pass again', async () => {
    // resources of one account share its bucket
    const ids = Array.from({ length: BURST + 3 }, (_, i) => send(`mallory@localhost/r${i % 2}`));
    const answers = await Promise.all(ids.map(innerAnswer));
    const types = answers.map((a) => a.attrs.type);
    assert.equal(types.filter((t) => t === 'result').length, BURST, types.join());
    const refused = answers.filter((a) => a.attrs.type === 'error');
    assert.equal(refused.length, 3);
    for (const r of refused) {
      assert.equal(conditionOf(r), 'resource-constraint');
      assert.equal(r.getChild('error')!.attrs.type, 'wait');
      assert.match(r.getChild('error')!.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /rate limit/);
    }
    // another user is not affected
    assert.equal((await innerAnswer(send('alice@localhost/phone'))).attrs.type, 'result');
    await until(() => fx.audit.filter((e) => e.type === 'request.rejected' && e.reason === 'rate-limited').length === 3, 3000, 'three rate-limited audit events');
    const audited = fx.audit.filter((e) => e.type === 'request.rejected' && e.reason === 'rate-limited');
    assert.ok(audited.every((e) => e.type === 'request.rejected' && e.condition === 'resource-constraint' && e.from?.startsWith('mallory@localhost/')));
    const metrics = await fx.metrics.registry.metrics();
    assert.match(metrics, /dbroker_ingress_rate_limited_total\{[^}]*\} 3/);
    assert.match(metrics, /dbroker_ingress_requests_total\{[^}]*route="none",outcome="rejected",condition="resource-constraint"[^}]*\} 3/);
    // recovery: one token every 1000 / RATE ms
    await new Promise((r) => setTimeout(r, (1000 / RATE) * 2 + 50));
    assert.equal((await innerAnswer(send('mallory@localhost/r0'))).attrs.type, 'result');
    assert.equal((await innerAnswer(send('mallory@localhost/r1'))).attrs.type, 'result');
  });
});
