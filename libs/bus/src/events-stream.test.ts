import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { createEventPublisher } from './event-publisher';
import { ensureEventsStream } from './events-stream';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('the events stream is created with max_age, max_bytes and discard old, and updated when the limits change', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'stream-test', logger: silent });
  const jsm = await jetstreamManager(bus.nc);

  assert.equal(await ensureEventsStream(bus.nc, 'EV', 'ev', { maxAgeMs: 3_600_000, maxBytes: 10 * 1024 * 1024 }), 'created');
  let config = (await jsm.streams.info('EV')).config;
  assert.equal(config.max_age, 3_600_000 * 1_000_000);
  assert.equal(config.max_bytes, 10 * 1024 * 1024);
  assert.equal(config.discard, DiscardPolicy.Old);
  assert.deepEqual(config.subjects, ['ev.>']);

  // a second replica with the same limits changes nothing
  assert.equal(await ensureEventsStream(bus.nc, 'EV', 'ev', { maxAgeMs: 3_600_000, maxBytes: 10 * 1024 * 1024 }), 'unchanged');

  // a restart with other limits updates the existing stream, keeping its messages
  bus.nc.publish('ev.x', 'kept');
  await bus.nc.flush();
  assert.equal(await ensureEventsStream(bus.nc, 'EV', 'ev', { maxAgeMs: 86_400_000, maxBytes: 0 }, silent), 'updated');
  const info = await jsm.streams.info('EV');
  config = info.config;
  assert.equal(config.max_age, 86_400_000 * 1_000_000);
  assert.equal(config.max_bytes, -1);
  assert.equal(info.state.messages, 1);

  // an existing stream created without limits (before this version) gets them
  await jsm.streams.add({ name: 'OLD', subjects: ['old.>'] });
  assert.equal(await ensureEventsStream(bus.nc, 'OLD', 'old'), 'updated');
  config = (await jsm.streams.info('OLD')).config;
  assert.equal(config.max_age, 7 * 86_400_000 * 1_000_000);
  assert.equal(config.max_bytes, 1024 * 1024 * 1024);
  assert.equal(config.discard, DiscardPolicy.Old);
  await bus.drain();
});

test('a full stream drops its oldest messages and the publisher keeps going', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'stream-full', logger: silent });
  await ensureEventsStream(bus.nc, 'EV', 'ev', { maxAgeMs: 0, maxBytes: 64 * 1024 });
  let dropped = 0;
  const pub = createEventPublisher({ nc: bus.nc, prefix: 'ev', server: 'localhost', component: 'pubsub.localhost', logger: silent, maxBatch: 1, onDropped: (n) => (dropped += n) });
  for (let i = 0; i < 300; i++) pub.emit({ type: 'request.rejected', requestId: `r${i}`, reason: 'x'.repeat(900), condition: 'bad-request' });
  assert.equal(await pub.flush(20_000), true, 'every publish was accepted');
  assert.equal(dropped, 0);
  const info = await (await jetstreamManager(bus.nc)).streams.info('EV');
  assert.ok(info.state.bytes <= 64 * 1024, `${info.state.bytes} bytes stored`);
  assert.ok(info.state.first_seq > 1, 'the oldest messages were discarded');
  assert.equal(info.state.last_seq, 300);
  await pub.stop(1000);
  await bus.drain();
});
