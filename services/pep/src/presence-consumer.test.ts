import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus, encodeStateEnvelope, presenceSubject, type PresenceEnvelope } from '@dbroker/bus';
import { createDatabase, MIGRATIONS_DIR, runMigrations } from '@dbroker/store';
import { createPresenceStore, type PresenceStore } from '@dbroker/user-state';
import { startNatsServer } from '../../../test/harness/nats-server';
import type { Notifier } from './notifier';
import { startPresenceConsumer } from './presence-consumer';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('presences beyond the concurrency wait in a queue bounded in count; beyond it they are dropped and counted', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'presence-queue', logger: silent });
  const db = await createDatabase({});
  try {
    await runMigrations(db.db, { migrationsDir: MIGRATIONS_DIR });
    const real = createPresenceStore({ db: db.raw, ttlMs: 3_600_000 });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    // the real store, held until the test opens the gate
    const store: PresenceStore = { ...real, applyPresence: async (env) => (await gate, real.applyPresence(env)) };
    const initial: string[] = [];
    const notifier = { onInitialPresence: (_s: string, jid: string) => void initial.push(jid) } as unknown as Notifier;
    const kinds: string[] = [];
    const consumer = startPresenceConsumer({ nc: bus.nc, subjectPrefix: 'xmpp', queue: 'pep', presence: store, notifier, logger: silent, concurrency: 2, maxQueued: 5, onApplied: (k) => kinds.push(k) });
    await bus.nc.flush();
    for (let i = 0; i < 20; i++) {
      const env: PresenceEnvelope = { v: 1, server: 'localhost', from: `u${i}@localhost/r`, available: true, delayed: false, receivedAt: new Date().toISOString() };
      bus.nc.publish(presenceSubject('xmpp', 'localhost'), encodeStateEnvelope(env));
    }
    await bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(kinds.filter((k) => k === 'dropped').length, 13, '2 in hand, 5 waiting, 13 dropped');
    open();
    await consumer.stop();
    assert.equal(kinds.filter((k) => k === 'initial').length, 7);
    assert.deepEqual(initial, Array.from({ length: 7 }, (_, i) => `u${i}@localhost/r`));
  } finally {
    await db.close();
    await bus.drain();
  }
});
