import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { createEventPublisher } from './event-publisher';
import { ensureEventsStream } from './events-stream';
import { AuditEventSchema } from './events';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('events queued together go out in few stream messages, in emission order, none lost', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'pub-test', logger: silent });
  await ensureEventsStream(bus.nc, 'EV', 'ev');
  const pub = createEventPublisher({ nc: bus.nc, prefix: 'ev', server: 'localhost', component: 'pubsub.localhost', logger: silent });
  const emitted = [];
  for (let i = 0; i < 500; i++) emitted.push(pub.emit({ type: 'request.rejected', requestId: `r${i}`, reason: 'test', condition: 'bad-request' }));
  assert.equal(await pub.flush(10_000), true);
  const info = await (await jetstreamManager(bus.nc)).streams.info('EV');
  assert.ok(info.state.messages < 50, `${info.state.messages} messages for 500 events`);
  const consumer = await jetstream(bus.nc).consumers.get('EV');
  const seen: string[] = [];
  const msgs = await consumer.fetch({ max_messages: info.state.messages, expires: 2000 });
  for await (const m of msgs) {
    const body = m.json<{ batch?: Array<{ id: string }>; id?: string }>();
    for (const e of body.batch ?? [body as { id: string }]) {
      assert.ok(AuditEventSchema.safeParse(e).success, `stored event is a valid audit event: ${JSON.stringify(e)}`);
      seen.push(e.id);
    }
    if (seen.length >= 500) break;
  }
  assert.deepEqual(seen, emitted.map((e) => e.id));
  await pub.stop(1000);
  await bus.drain();
});

test('with the stream unreachable, events wait in memory and a stopped publisher does not spin', async () => {
  const nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'pub-test-2', logger: silent });
  await ensureEventsStream(bus.nc, 'EV', 'ev');
  const pub = createEventPublisher({ nc: bus.nc, prefix: 'ev', server: 'localhost', component: 'pubsub.localhost', logger: silent });
  await nats.stop();
  for (let i = 0; i < 10; i++) pub.emit({ type: 'request.rejected', reason: 'x', condition: 'bad-request' });
  assert.equal(await pub.flush(300), false);
  assert.equal(pub.pending(), 10);
  const t0 = process.cpuUsage();
  await pub.stop(200);
  await new Promise((r) => setTimeout(r, 500));
  const used = process.cpuUsage(t0);
  assert.ok(used.user + used.system < 300_000, `cpu after stop ${(used.user + used.system) / 1000} ms`);
  await bus.drain(500);
});

test('the buffer is bounded in bytes: beyond it the oldest events are dropped and counted', async () => {
  const nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'pub-test-bytes', logger: silent });
  await ensureEventsStream(bus.nc, 'EV', 'ev');
  let dropped = 0;
  const errors: string[] = [];
  const logger = { ...silent, error: (_o: object, msg?: string) => errors.push(msg ?? '') };
  const pub = createEventPublisher({ nc: bus.nc, prefix: 'ev', server: 'localhost', component: 'pubsub.localhost', logger, maxBufferedBytes: 20_000, onDropped: (n) => (dropped += n) });
  await nats.stop();
  // each event carries a reason at its 1024-character cap: ~1.2 KB serialized
  for (let i = 0; i < 100; i++) pub.emit({ type: 'request.rejected', requestId: `r${i}`, reason: 'x'.repeat(50_000), condition: 'bad-request' });
  await new Promise((r) => setTimeout(r, 50));
  const bytes = pub.pendingBytes!();
  assert.ok(bytes <= 20_000 + 2_000, `pending ${bytes} bytes`);
  assert.ok(pub.pending() < 20, `${pub.pending()} events pending`);
  assert.equal(dropped + pub.pending(), 100, 'every event is either pending or counted as dropped');
  assert.ok(errors.some((m) => m.includes('audit buffer full')));
  await pub.stop(100);
  await bus.drain(500);
});

test('a batch never exceeds maxBatchBytes, and a 200 KB IQ id reaches the stream cut to its cap', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'pub-test-batch', logger: silent });
  await ensureEventsStream(bus.nc, 'EV', 'ev');
  const pub = createEventPublisher({ nc: bus.nc, prefix: 'ev', server: 'localhost', component: 'pubsub.localhost', logger: silent, maxBatchBytes: 16 * 1024 });
  for (let i = 0; i < 200; i++) {
    pub.emit({ type: 'request.received', requestId: `r${i}`, from: 'alice@localhost/a', to: 'alice@localhost', namespace: 'urn:x', iqType: 'get', iqId: 'i'.repeat(200_000), route: 'pubsub', subject: 'xmpp.req.x' });
  }
  assert.equal(await pub.flush(10_000), true);
  const info = await (await jetstreamManager(bus.nc)).streams.info('EV');
  const consumer = await jetstream(bus.nc).consumers.get('EV');
  const msgs = await consumer.fetch({ max_messages: info.state.messages, expires: 2000 });
  let events = 0;
  for await (const m of msgs) {
    assert.ok(m.data.length <= 16 * 1024, `message of ${m.data.length} bytes`);
    const body = m.json<{ batch?: Array<{ iqId: string; truncated?: string[] }> }>();
    for (const e of body.batch ?? [body as unknown as { iqId: string; truncated?: string[] }]) {
      assert.equal(e.iqId.length, 256);
      assert.deepEqual(e.truncated, ['iqId']);
      events++;
    }
    if (events >= 200) break;
  }
  assert.equal(events, 200);
  assert.ok(info.state.messages > 1);
  await pub.stop(1000);
  await bus.drain();
});
