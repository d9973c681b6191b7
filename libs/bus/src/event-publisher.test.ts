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
