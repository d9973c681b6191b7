import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { decodeReply, encodeEnvelope, type RequestEnvelope } from './envelope';
import { startWorker } from './worker';
import { requestFeatures } from './features';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const envelope = (i: number, deadline = Date.now() + 10_000): RequestEnvelope => ({ v: 1, requestId: `r${i}`, server: 'localhost', namespace: 'urn:x', from: 'a@localhost/r', to: 'a@localhost', iqType: 'get', iqId: `i${i}`, stanza: `<iq id='i${i}'/>`, deadline });

test('worker runtime: bounded concurrency, one reply per request, failures and expired requests, graceful drain', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'test', logger: silent });
  let active = 0;
  let peak = 0;
  const outcomes: string[] = [];
  const worker = startWorker({
    nc: bus.nc,
    subjects: ['t.req.*.x'],
    featureSubjects: ['t.features.x'],
    features: { identities: [{ category: 'pubsub', type: 'pep' }], features: ['f1'] },
    queue: 'x',
    concurrency: 3,
    workerId: 'w1',
    logger: silent,
    onHandled: (o) => outcomes.push(o),
    handle: async (req) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 30));
      active--;
      if (req.requestId === 'r5') throw new Error('boom');
      return `<iq id='${req.iqId}' type='result'/>`;
    },
  });
  await bus.nc.flush();
  const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => bus.nc.request('t.req.localhost.x', encodeEnvelope(envelope(i)), { timeout: 5000 })));
  assert.ok(peak <= 3, `peak concurrency ${peak}`);
  const decoded = replies.map((m) => decodeReply(m.data));
  for (const [i, d] of decoded.entries()) {
    assert.ok(d.ok);
    assert.equal(d.value.requestId, `r${i}`);
    if (i === 5) assert.equal(d.value.failure?.condition, 'internal-server-error');
    else assert.equal(d.value.stanza, `<iq id='i${i}' type='result'/>`);
  }
  // An expired request is not handled (the ingress has answered it already).
  await assert.rejects(bus.nc.request('t.req.localhost.x', encodeEnvelope(envelope(99, Date.now() - 1)), { timeout: 300 }));
  assert.ok(outcomes.includes('expired'));
  assert.deepEqual(await requestFeatures(bus.nc, 't.features.x', 1000), { identities: [{ category: 'pubsub', type: 'pep' }], features: ['f1'] });
  // Drain waits for the request in hand.
  const pending = bus.nc.request('t.req.localhost.x', encodeEnvelope(envelope(100)), { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 10));
  await worker.stop();
  assert.ok(decodeReply((await pending).data).ok);
  assert.equal(worker.inflight(), 0);
  await bus.drain();
});
