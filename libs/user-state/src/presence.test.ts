import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Caps, PresenceEnvelope } from '@dbroker/bus';
import { createPresenceStore, type PresenceStore } from './presence';
import { BACKENDS, openTestDb, testClock, type TestDb } from './test-fixtures';

const TTL = 600_000;
const PHONE = 'alice@example.org/phone';
const CAPS_A: Caps = { node: 'https://conversations.im', ver: 'AAAA=', hash: 'sha-1' };
const CAPS_B: Caps = { node: 'https://conversations.im', ver: 'BBBB=', hash: 'sha-1' };

for (const backend of BACKENDS) {
  describe(`presence store on ${backend}`, () => {
    let db: TestDb;
    let clock: ReturnType<typeof testClock>;
    let store: PresenceStore;
    before(async () => {
      db = await openTestDb(backend);
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      await db.handle.raw.query({ text: 'delete from presence_sessions' });
      clock = testClock();
      store = createPresenceStore({ db: db.raw, ttlMs: TTL, now: clock.now });
    });

    /** A presence received `agoMs` before the store's clock. */
    const presence = (from: string, o: { available?: boolean; caps?: Caps; delayed?: boolean; agoMs?: number } = {}): PresenceEnvelope => ({
      v: 1,
      server: 'example.org',
      from,
      available: o.available ?? true,
      ...(o.caps ? { caps: o.caps } : {}),
      delayed: o.delayed ?? false,
      receivedAt: new Date(clock.ms - (o.agoMs ?? 0)).toISOString(),
    });
    const rowOf = async (fullJid: string) =>
      (await db.handle.raw.query<{ available_at: Date; updated_at: Date; expires_at: Date; caps_ver: string | null }>({ text: 'select available_at, updated_at, expires_at, caps_ver from presence_sessions where full_jid = $1', values: [fullJid] }))[0];

    test('first presence is initial, then updates; caps changes are reported', async () => {
      assert.deepEqual(await store.applyPresence(presence(PHONE, { caps: CAPS_A })), { kind: 'initial', fullJid: PHONE, bareJid: 'alice@example.org', caps: CAPS_A, delayed: false });
      const t0 = clock.ms;
      clock.advance(1_000);
      assert.deepEqual(await store.applyPresence(presence(PHONE, { caps: CAPS_A })), { kind: 'update', fullJid: PHONE, bareJid: 'alice@example.org', caps: CAPS_A, capsChanged: false });
      clock.advance(1_000);
      assert.deepEqual(await store.applyPresence(presence(PHONE, { caps: CAPS_B })), { kind: 'update', fullJid: PHONE, bareJid: 'alice@example.org', caps: CAPS_B, capsChanged: true });
      const row = await rowOf(PHONE);
      assert.equal(row?.available_at.getTime(), t0, 'available since the first presence');
      assert.equal(row?.updated_at.getTime(), clock.ms);
      assert.equal(row?.expires_at.getTime(), clock.ms + TTL, 'each presence pushes the expiry');
    });

    test('a presence without caps keeps the caps of the session', async () => {
      await store.applyPresence(presence(PHONE, { caps: CAPS_A }));
      clock.advance(1);
      assert.deepEqual(await store.applyPresence(presence(PHONE)), { kind: 'update', fullJid: PHONE, bareJid: 'alice@example.org', caps: CAPS_A, capsChanged: false });
      assert.deepEqual(await store.onlineResources('alice@example.org'), [{ fullJid: PHONE, bareJid: 'alice@example.org', caps: CAPS_A }]);
    });

    test('delayed presences count (a replay after the component connected)', async () => {
      const r = await store.applyPresence(presence(PHONE, { delayed: true, agoMs: 5_000 }));
      assert.deepEqual(r, { kind: 'initial', fullJid: PHONE, bareJid: 'alice@example.org', delayed: true });
      assert.equal((await rowOf(PHONE))?.expires_at.getTime(), clock.ms - 5_000 + TTL, 'timed from receivedAt');
    });

    test('unavailable deletes the resource; another unavailable finds nothing', async () => {
      await store.applyPresence(presence(PHONE, { caps: CAPS_A }));
      await store.applyPresence(presence('alice@example.org/desk'));
      clock.advance(1);
      assert.deepEqual(await store.applyPresence(presence(PHONE, { available: false })), { kind: 'unavailable', fullJid: PHONE, bareJid: 'alice@example.org', wasOnline: true });
      assert.deepEqual(await store.onlineResources('alice@example.org'), [{ fullJid: 'alice@example.org/desk', bareJid: 'alice@example.org' }]);
      assert.equal(await rowOf(PHONE), undefined);
      assert.deepEqual(await store.applyPresence(presence(PHONE, { available: false })), { kind: 'unavailable', fullJid: PHONE, bareJid: 'alice@example.org', wasOnline: false });
      // and coming back is initial again
      clock.advance(1);
      assert.equal((await store.applyPresence(presence(PHONE))).kind, 'initial');
    });

    test('expiry: a resource with no presence for ttl is offline, its next presence is initial again', async () => {
      await store.applyPresence(presence(PHONE, { caps: CAPS_A }));
      clock.advance(TTL * 0.8);
      assert.equal((await store.applyPresence(presence(PHONE, { caps: CAPS_A }))).kind, 'update');
      clock.advance(TTL * 0.8);
      assert.equal((await store.onlineResources('alice@example.org')).length, 1, 'refreshed by the second presence');
      clock.advance(TTL * 0.2);
      assert.deepEqual(await store.onlineResources('alice@example.org'), []);
      assert.deepEqual(await store.onlineResourcesOf(['alice@example.org']), []);
      clock.advance(1);
      const r = await store.applyPresence(presence(PHONE));
      assert.deepEqual(r, { kind: 'initial', fullJid: PHONE, bareJid: 'alice@example.org', delayed: false }, 'caps of the expired session are not kept');
      assert.equal((await rowOf(PHONE))?.available_at.getTime(), clock.ms, 'a new session');
      // an unavailable for an expired row: it was not online
      clock.advance(TTL + 1);
      assert.deepEqual(await store.applyPresence(presence(PHONE, { available: false })), { kind: 'unavailable', fullJid: PHONE, bareJid: 'alice@example.org', wasOnline: false });
    });

    test('out of order: a presence older than the row is ignored, an older unavailable does not delete it', async () => {
      await store.applyPresence(presence(PHONE, { caps: CAPS_B }));
      assert.deepEqual(await store.applyPresence(presence(PHONE, { caps: CAPS_A, agoMs: 10 })), { kind: 'ignored', fullJid: PHONE, reason: 'stale' });
      assert.deepEqual(await store.applyPresence(presence(PHONE, { available: false, agoMs: 10 })), { kind: 'ignored', fullJid: PHONE, reason: 'stale' });
      assert.equal((await rowOf(PHONE))?.caps_ver, CAPS_B.ver);
    });

    test('a presence so old that it would have expired is ignored', async () => {
      assert.deepEqual(await store.applyPresence(presence(PHONE, { agoMs: TTL })), { kind: 'ignored', fullJid: PHONE, reason: 'expired' });
      assert.equal(await rowOf(PHONE), undefined);
    });

    test('receivedAt in the future (ingress clock ahead) counts as now', async () => {
      const env = { ...presence(PHONE), receivedAt: new Date(clock.ms + 3_600_000).toISOString() };
      await store.applyPresence(env);
      assert.equal((await rowOf(PHONE))?.expires_at.getTime(), clock.ms + TTL);
    });

    test('JIDs are normalised; a `from` that is not a JID is ignored', async () => {
      const r = await store.applyPresence(presence('Alice@Example.ORG/Phone'));
      assert.deepEqual(r, { kind: 'initial', fullJid: 'alice@example.org/Phone', bareJid: 'alice@example.org', delayed: false });
      assert.deepEqual(await store.applyPresence(presence('a@b@c/x')), { kind: 'ignored', fullJid: 'a@b@c/x', reason: 'invalid-jid' });
      assert.equal((await store.onlineResources('ALICE@example.org/whatever')).length, 1);
    });

    test('a remote entity without resource is one session under its bare JID', async () => {
      await store.applyPresence(presence('gateway.remote.example'));
      assert.deepEqual(await store.onlineResourcesOf(['gateway.remote.example']), [{ fullJid: 'gateway.remote.example', bareJid: 'gateway.remote.example' }]);
    });

    test('onlineResourcesOf: many bare JIDs in one statement, unexpired only', async () => {
      await store.applyPresence(presence('bob@example.org/a', { caps: CAPS_A }));
      await store.applyPresence(presence('bob@example.org/b'));
      await store.applyPresence(presence('carol@remote.example/x', { agoMs: TTL - 1 }));
      await store.applyPresence(presence('dave@example.org/y'));
      clock.advance(1);
      const first = db.queries.length;
      const r = await store.onlineResourcesOf(['Bob@example.org', 'carol@remote.example', 'dave@example.org', 'nobody@example.org', 'bob@example.org', 'a@b@c']);
      assert.deepEqual(db.queries.slice(first), ['dbroker_userstate_presence_online_of']);
      assert.deepEqual(r, [
        { fullJid: 'bob@example.org/a', bareJid: 'bob@example.org', caps: CAPS_A },
        { fullJid: 'bob@example.org/b', bareJid: 'bob@example.org' },
        { fullJid: 'dave@example.org/y', bareJid: 'dave@example.org' },
      ]);
      assert.deepEqual(await store.onlineResourcesOf([]), []);
    });

    test('deleteExpired removes only rows expired for longer than the grace', async () => {
      await store.applyPresence(presence('a@example.org/1', { agoMs: TTL - 10 }));
      await store.applyPresence(presence('b@example.org/1', { agoMs: TTL - 1_000 }));
      await store.applyPresence(presence('c@example.org/1'));
      clock.advance(500);
      assert.equal(await store.deleteExpired(1_000), 0);
      assert.equal(await store.deleteExpired(), 1);
      clock.advance(600);
      assert.equal(await store.deleteExpired(), 1);
      assert.deepEqual((await db.handle.raw.query<{ full_jid: string }>({ text: 'select full_jid from presence_sessions' })).map((r) => r.full_jid), ['c@example.org/1']);
    });
  });
}
