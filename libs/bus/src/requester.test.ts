import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { createRequester, requesterFor } from './requester';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('one inbox for many requests: replies matched to their request, no responders, timeout, late reply ignored, close', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'requester-test', logger: silent });
  const nc = bus.nc;
  nc.subscribe('echo', { callback: (_e, m) => { setTimeout(() => m.respond(`re:${m.string()}`), Math.random() * 20); } });
  let late: (() => void) | undefined;
  nc.subscribe('slow', { callback: (_e, m) => { late = () => m.respond('too late'); } });
  await nc.flush();
  const r = createRequester(nc);
  const outs = await Promise.all(Array.from({ length: 50 }, (_, i) => r.request('echo', `m${i}`, { timeoutMs: 2000 })));
  assert.deepEqual(outs.map((o) => (o.kind === 'reply' ? o.msg.string() : o.kind)), Array.from({ length: 50 }, (_, i) => `re:m${i}`));
  assert.deepEqual(await r.request('nobody.here', 'x', { timeoutMs: 2000 }), { kind: 'no-responders' });
  const t0 = Date.now();
  assert.deepEqual(await r.request('slow', 'x', { timeoutMs: 200 }), { kind: 'timeout' });
  assert.ok(Date.now() - t0 < 1500);
  late?.(); // a reply after the timeout resolves nothing (and throws nothing)
  await nc.flush();
  const pending = r.request('slow', 'y', { timeoutMs: 5000 });
  r.close();
  assert.equal((await pending).kind, 'bus-down');
  assert.equal((await r.request('echo', 'z', { timeoutMs: 100 })).kind, 'bus-down');
  assert.equal(requesterFor(nc), requesterFor(nc), 'one shared requester per connection');
  await bus.drain();
  assert.equal((await requesterFor(nc).request('echo', 'after', { timeoutMs: 100 })).kind, 'bus-down');
});
