import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { decodeReply, encodeEnvelope, type RequestEnvelope } from './envelope';
import { startWorker } from './worker';
import { currentDeadline, DeadlineExceededError } from './deadline';
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

test('worker runtime: the handler runs under the request deadline; a deadline refusal is answered and counted as expired', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'test', logger: silent });
  const outcomes: string[] = [];
  const seen: Array<number | undefined> = [];
  const worker = startWorker({
    nc: bus.nc,
    subjects: ['d.req.*.x'],
    queue: 'x',
    concurrency: 2,
    workerId: 'w1',
    logger: silent,
    onHandled: (o) => outcomes.push(o),
    handle: async (req) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(currentDeadline());
      if (req.requestId === 'r2') throw new DeadlineExceededError(req.deadline, 'before COMMIT');
      return `<iq id='${req.iqId}' type='result'/>`;
    },
  });
  await bus.nc.flush();
  const deadline = Date.now() + 10_000;
  const ok = decodeReply((await bus.nc.request('d.req.localhost.x', encodeEnvelope(envelope(1, deadline)), { timeout: 5000 })).data);
  const late = decodeReply((await bus.nc.request('d.req.localhost.x', encodeEnvelope(envelope(2, deadline)), { timeout: 5000 })).data);
  assert.ok(ok.ok && ok.value.stanza);
  assert.ok(late.ok && late.value.failure?.condition === 'internal-server-error');
  assert.deepEqual(seen, [deadline, deadline], 'currentDeadline() inside the handler is the envelope deadline');
  assert.equal(currentDeadline(), undefined, 'and nothing outside it');
  assert.deepEqual(outcomes, ['replied', 'expired']);
  await worker.stop();
  await bus.drain();
});

test('worker runtime: the queue of waiting requests is bounded in count and bytes; beyond it requests get resource-constraint at once', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'test-queue', logger: silent });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const outcomes: string[] = [];
  const big = (i: number): RequestEnvelope => ({ ...envelope(i), stanza: `<iq id='i${i}'>${'x'.repeat(3000)}</iq>` });
  const worker = startWorker({
    nc: bus.nc,
    subjects: ['q.req.*.x'],
    queue: 'x',
    concurrency: 1,
    maxQueued: 3,
    maxQueuedBytes: 8000,
    workerId: 'w1',
    logger: silent,
    onHandled: (o) => outcomes.push(o),
    handle: async (req) => {
      await gate;
      return `<iq id='${req.iqId}' type='result'/>`;
    },
  });
  await bus.nc.flush();
  // 1 in hand, then small ones: 3 wait, the 5th and 6th are refused by count
  const small = [0, 1, 2, 3, 4, 5].map((i) => bus.nc.request('q.req.localhost.x', encodeEnvelope(envelope(i)), { timeout: 5000 }));
  await new Promise((r) => setTimeout(r, 100));
  release();
  const replies = (await Promise.all(small)).map((m) => decodeReply(m.data));
  assert.deepEqual(
    replies.map((d) => (d.ok ? (d.value.failure?.condition ?? 'result') : 'bad')),
    ['result', 'result', 'result', 'result', 'resource-constraint', 'resource-constraint'],
  );
  assert.ok(replies.every((d, i) => d.ok && d.value.requestId === `r${i}`));
  assert.equal(outcomes.filter((o) => o === 'overloaded').length, 2);
  await worker.stop();

  // by bytes: ~3.2 KB envelopes, 8000 bytes of waiting room = 2 of them
  let open!: () => void;
  const gate2 = new Promise<void>((r) => (open = r));
  const w2 = startWorker({ nc: bus.nc, subjects: ['b.req.*.x'], queue: 'x', concurrency: 1, maxQueued: 100, maxQueuedBytes: 8000, workerId: 'w2', logger: silent, handle: async (req) => (await gate2, `<iq id='${req.iqId}' type='result'/>`) });
  await bus.nc.flush();
  const sent = [0, 1, 2, 3, 4].map((i) => bus.nc.request('b.req.localhost.x', encodeEnvelope(big(i)), { timeout: 5000 }));
  await new Promise((r) => setTimeout(r, 100));
  open();
  const conds = (await Promise.all(sent)).map((m) => {
    const d = decodeReply(m.data);
    return d.ok ? (d.value.failure?.condition ?? 'result') : 'bad';
  });
  assert.deepEqual(conds, ['result', 'result', 'result', 'resource-constraint', 'resource-constraint']);
  await w2.stop();
  await bus.drain();
});
