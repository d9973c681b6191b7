import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connectBus, encodeEnvelope, outboundSubject, type Bus } from '@dbroker/bus';
import { createPgPubsubStorage, createPubsubEngine, type PubsubEngine } from '@dbroker/pubsub';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createLogger } from '@dbroker/telemetry';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createNotifier } from './notifier';
import { createUserState } from './user-state';

// The recipient limit of one notification: a publish to a node with more subscribers than
// MAX_RECIPIENTS_PER_NOTIFICATION reaches exactly that many, in plan order, and the truncation is reported.
// Real Postgres (the node, its subscribers) and a real nats-server, with a stand-in ingress acking sends.

const SERVER = 'example.org';
const OWNER = `owner-${randomUUID().slice(0, 8)}@${SERVER}`;
const logger = createLogger({ service: 'notifier-test', level: 'silent' });

let nats: NatsServerHandle;
let temp: TempDatabase;
let db: DatabaseHandle;
let bus: Bus;
let engine: PubsubEngine;
const delivered: string[] = [];

before(async () => {
  nats = await startNatsServer();
  temp = await createTempDatabase('dbroker_notifier');
  db = await createDatabase({ url: temp.url, poolMax: 4 });
  await runMigrations(db.db, { migrationsDir: MIGRATIONS_DIR });
  bus = await connectBus({ url: nats.url, name: 'notifier-test', logger });
  // the ingress's part: take each privileged message and ack it
  bus.nc.subscribe(outboundSubject('xmpp', SERVER), {
    callback: (_e, m) => {
      const env = JSON.parse(m.string()) as { stanza: string };
      delivered.push(/ to='([^']+)'/.exec(env.stanza)?.[1] ?? /to="([^"]+)"/.exec(env.stanza)?.[1] ?? '?');
      m.respond(encodeEnvelope({ v: 1, ok: true }));
    },
  });
  await bus.nc.flush();
  engine = createPubsubEngine({ storage: createPgPubsubStorage(db.raw) });
});

after(async () => {
  await bus?.nc.close();
  await db?.close();
  await temp?.drop();
  await nats?.stop();
});

test('a notification goes to at most maxRecipients; the rest is reported, not sent', async () => {
  const userState = createUserState({ db: db.raw, nc: bus.nc, subjectPrefix: 'xmpp', worker: 'pep@test', logger, rosterTtlMs: 60_000, presenceTtlMs: 60_000, iqTimeoutMs: 200, capsUnverifiedTtlMs: 1_000 });
  const truncations: Array<{ sent: number; leftOut: number }> = [];
  const notifier = createNotifier({ engine, userState, nc: bus.nc, subjectPrefix: 'xmpp', worker: 'pep@test', logger, timeoutMs: 2_000, concurrency: 4, maxRecipients: 3, onTruncated: (t) => truncations.push({ sent: t.sent, leftOut: t.leftOut }) });
  const created = await engine.createNode(OWNER, 'feed', `${OWNER}/desk`, { access_model: 'open' });
  assert.ok(created.ok);
  const subscribers = ['s1', 's2', 's3', 's4', 's5'].map((s) => `${s}@remote.example/x`);
  for (const s of subscribers) assert.ok((await engine.subscribe(OWNER, 'feed', s, s)).ok);

  const published = await engine.publish(OWNER, 'feed', `${OWNER}/desk`, 'one', "<entry xmlns='urn:t'/>", { requestId: randomUUID() });
  assert.ok(published.ok);
  notifier.onEffects(SERVER, randomUUID(), published.value.effects);
  await notifier.idle();
  assert.deepEqual(delivered.sort(), subscribers.slice(0, 3));
  assert.deepEqual(truncations, [{ sent: 3, leftOut: 2 }]);

  // at the limit exactly: no truncation
  delivered.length = 0;
  for (const s of subscribers.slice(3)) assert.ok((await engine.unsubscribe(OWNER, 'feed', s, s)).ok);
  const again = await engine.publish(OWNER, 'feed', `${OWNER}/desk`, 'two', "<entry xmlns='urn:t'/>", { requestId: randomUUID() });
  assert.ok(again.ok);
  notifier.onEffects(SERVER, randomUUID(), again.value.effects);
  await notifier.idle();
  assert.equal(delivered.length, 3);
  assert.equal(truncations.length, 1);
});

test('notification work beyond NOTIFY_QUEUE_MAX waiting is dropped and reported, the rest is delivered', async () => {
  const SLOW = 'slow.example';
  const held: Array<() => void> = [];
  let received = 0;
  bus.nc.subscribe(outboundSubject('xmpp', SLOW), {
    callback: (_e, m) => {
      received++;
      held.push(() => m.respond(encodeEnvelope({ v: 1, ok: true })));
    },
  });
  await bus.nc.flush();
  const userState = createUserState({ db: db.raw, nc: bus.nc, subjectPrefix: 'xmpp', worker: 'pep@test', logger, rosterTtlMs: 60_000, presenceTtlMs: 60_000, iqTimeoutMs: 200, capsUnverifiedTtlMs: 1_000 });
  const dropped: string[] = [];
  const notifier = createNotifier({ engine, userState, nc: bus.nc, subjectPrefix: 'xmpp', worker: 'pep@test', logger, timeoutMs: 5_000, concurrency: 1, maxQueued: 1, onDropped: (what) => dropped.push(what) });
  const owner = `queue-${randomUUID().slice(0, 8)}@${SLOW}`;
  assert.ok((await engine.createNode(owner, 'feed', `${owner}/desk`, { access_model: 'open', max_items: 10 })).ok);
  assert.ok((await engine.subscribe(owner, 'feed', 'reader@remote.example/x', 'reader@remote.example/x')).ok);
  for (const id of ['1', '2', '3']) {
    const p = await engine.publish(owner, 'feed', `${owner}/desk`, id, "<entry xmlns='urn:t'/>", { requestId: randomUUID() });
    assert.ok(p.ok);
    notifier.onEffects(SLOW, randomUUID(), p.value.effects);
  }
  // one running (its send held), one waiting, the third dropped
  assert.deepEqual(dropped, ['notification']);
  const deadline = Date.now() + 5_000;
  while (received < 2 && Date.now() < deadline) {
    held.shift()?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  held.splice(0).forEach((r) => r());
  await notifier.idle();
  assert.equal(received, 2);
});

test('a 1,000-recipient publish of 100 KB is paced: stanza bytes not yet acked stay under NOTIFY_MAX_BYTES_IN_FLIGHT, every message is delivered', async () => {
  const BOMB = 'bomb.example';
  const MAX_BYTES = 1024 * 1024;
  const RECIPIENTS = 1000;
  // the stand-in ingress acks each message a little later, as the real one does once the socket took it
  let inFlight = 0;
  let peak = 0;
  let received = 0;
  bus.nc.subscribe(outboundSubject('xmpp', BOMB), {
    callback: (_e, m) => {
      const env = JSON.parse(m.string()) as { stanza: string };
      const bytes = Buffer.byteLength(env.stanza);
      received++;
      inFlight += bytes;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= bytes;
        m.respond(encodeEnvelope({ v: 1, ok: true }));
      }, 2);
    },
  });
  await bus.nc.flush();
  const userState = createUserState({ db: db.raw, nc: bus.nc, subjectPrefix: 'xmpp', worker: 'pep@test', logger, rosterTtlMs: 60_000, presenceTtlMs: 60_000, iqTimeoutMs: 200, capsUnverifiedTtlMs: 1_000 });
  let acked = 0;
  let failed = 0;
  const notifier = createNotifier({
    engine,
    userState,
    nc: bus.nc,
    subjectPrefix: 'xmpp',
    worker: 'pep@test',
    logger,
    timeoutMs: 10_000,
    concurrency: 4,
    maxBytesInFlight: MAX_BYTES,
    onSent: (_k, ok) => (ok ? acked++ : failed++),
  });
  const owner = `bomb-${randomUUID().slice(0, 8)}@${BOMB}`;
  assert.ok((await engine.createNode(owner, 'bomb', `${owner}/desk`, { access_model: 'open', max_items: 10 })).ok);
  for (let i = 0; i < RECIPIENTS; i++) {
    const jid = `target${i}@remote.example`;
    assert.ok((await engine.subscribe(owner, 'bomb', jid, jid)).ok);
  }
  const payload = `<p xmlns='urn:t'>${'B'.repeat(100 * 1024)}</p>`;
  const published = await engine.publish(owner, 'bomb', `${owner}/desk`, 'boom', payload, { requestId: randomUUID() });
  assert.ok(published.ok);
  notifier.onEffects(BOMB, randomUUID(), published.value.effects);
  await notifier.idle();
  assert.equal(received, RECIPIENTS);
  assert.equal(acked, RECIPIENTS);
  assert.equal(failed, 0);
  assert.ok(peak > 100 * 1024, `some messages were in flight together (peak ${peak})`);
  assert.ok(peak <= MAX_BYTES, `stanza bytes in flight peaked at ${peak}, over the bound ${MAX_BYTES}`);
});
