import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createDatabase } from '@dbroker/store';
import { createTempDatabase } from '../../../test/harness/postgres';
import { createCapsResolver } from './caps';
import { createPresenceStore } from './presence';
import { sweepUserState } from './sweep';
import { BACKENDS, cannedIngress, captureLogger, openTestDb, SIMPLE_QUERY, SIMPLE_VER, testClock, type TestDb } from './test-fixtures';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);

for (const backend of BACKENDS) {
  describe(`user state sweep on ${backend}`, () => {
    let db: TestDb;
    before(async () => {
      db = await openTestDb(backend);
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      await db.handle.raw.query({ text: 'truncate presence_sessions, caps_cache, roster_cache' });
    });

    const count = async (table: string, where = 'true') => Number((await db.handle.raw.query<{ n: number }>({ text: `select count(*)::int as n from ${table} where ${where}` }))[0]!.n);
    const at = (ms: number) => new Date(T0 + ms);

    async function seedPresence(n: number, expiresInMs: (i: number) => number) {
      await db.handle.raw.query({
        text:
          'insert into presence_sessions (full_jid, bare_jid, available_at, updated_at, expires_at) ' +
          "select 'u' || i || '@example.org/r', 'u' || i || '@example.org', $1, $1, $1::timestamptz + make_interval(secs => ($2::float8[])[i + 1] / 1000) from generate_series(0, $3 - 1) as i",
        values: [at(0), Array.from({ length: n }, (_, i) => expiresInMs(i)), n],
      });
    }
    async function seedCaps(n: number, verified: 'yes' | 'no', fetchedMs: number, expiresMs: number | null) {
      await db.handle.raw.query({
        text:
          "insert into caps_cache (hash, ver, features, identities, verified, fetched_at, expires_at) select 'sha-1', $1 || i, '[]', '[]', $2, $3::timestamptz + make_interval(secs => i / 1000.0), $4 from generate_series(0, $5 - 1) as i",
        values: [`${verified}-${fetchedMs}-`, verified, at(fetchedMs), expiresMs === null ? null : at(expiresMs), n],
      });
    }

    test('expired presences go, in bounded batches per sweep; unexpired ones stay online', async () => {
      await seedPresence(50, (i) => (i < 35 ? 10 * MIN : 120 * MIN));
      const bounds = { batchRows: 10, maxBatches: 2 };
      const now = () => at(60 * MIN);
      const first = await sweepUserState({ db: db.raw, bounds, capsMaxRows: 1000, rosterMaxAgeMs: 60 * MIN, now });
      assert.deepEqual(first.presence_sessions, { deleted: 20, batches: 2, more: true });
      const second = await sweepUserState({ db: db.raw, bounds, capsMaxRows: 1000, rosterMaxAgeMs: 60 * MIN, now });
      assert.deepEqual(second.presence_sessions, { deleted: 15, batches: 2, more: false });
      assert.equal(await count('presence_sessions'), 15);
      const store = createPresenceStore({ db: db.raw, ttlMs: 120 * MIN, now });
      assert.equal((await store.onlineResources('u40@example.org')).length, 1);
    });

    test('unverified caps answers past CAPS_UNVERIFIED_TTL_MS go; verified ones and fresh unverified ones stay', async () => {
      const clock = testClock(T0);
      // one real unverified answer through the resolver (its ver does not match the answer)
      const resolver = createCapsResolver({
        db: db.raw,
        sendIq: cannedIngress(() => `<iq xmlns='jabber:client' type='result' id='x'>${SIMPLE_QUERY}</iq>`).sendIq,
        timeoutMs: 1000,
        unverifiedTtlMs: 10 * MIN,
        logger: captureLogger(),
        worker: 'pep@test',
        now: clock.now,
      });
      await resolver.features('a@example.org/r', { hash: 'sha-1', node: 'http://code.google.com/p/exodus', ver: 'not-the-ver=' });
      await resolver.features('b@example.org/r', { hash: 'sha-1', node: 'http://code.google.com/p/exodus', ver: SIMPLE_VER });
      await seedCaps(5, 'no', 0, 30 * MIN);
      assert.equal(await count('caps_cache'), 7);
      const sweep = (ms: number) => sweepUserState({ db: db.raw, bounds: { batchRows: 100, maxBatches: 10 }, capsMaxRows: 1000, rosterMaxAgeMs: 60 * MIN, now: () => at(ms) });
      assert.equal((await sweep(10 * MIN - 1)).caps_cache_expired.deleted, 0);
      assert.equal((await sweep(10 * MIN)).caps_cache_expired.deleted, 1, 'the resolver answer at its ttl');
      assert.equal((await sweep(30 * MIN)).caps_cache_expired.deleted, 5);
      assert.deepEqual(await db.handle.raw.query({ text: 'select ver, verified from caps_cache' }), [{ ver: SIMPLE_VER, verified: 'yes' }]);
    });

    test('beyond CAPS_CACHE_MAX_ROWS the unverified rows are evicted first, then the oldest verified', async () => {
      await seedCaps(30, 'yes', 0, null); // oldest
      await seedCaps(20, 'yes', 5 * MIN, null);
      await seedCaps(10, 'no', 9 * MIN, 999 * MIN); // newest, unexpired, but unverified
      const bounds = { batchRows: 8, maxBatches: 3 };
      const sweep = () => sweepUserState({ db: db.raw, bounds, capsMaxRows: 25, rosterMaxAgeMs: 60 * MIN, now: () => at(10 * MIN) });
      const first = await sweep();
      assert.deepEqual(first.caps_cache_evicted, { deleted: 24, batches: 3, more: true });
      assert.equal(await count('caps_cache', "verified = 'no'"), 0);
      assert.equal(await count('caps_cache'), 36);
      const second = await sweep();
      assert.equal(second.caps_cache_evicted.deleted, 11);
      assert.equal(await count('caps_cache'), 25);
      assert.equal(await count('caps_cache', `fetched_at >= '${at(5 * MIN).toISOString()}'`), 20, 'the newest verified rows stay');
      assert.equal((await sweep()).caps_cache_evicted.deleted, 0);
    });

    test('roster rows older than ROSTER_MAX_AGE_MS go, younger ones stay', async () => {
      await db.handle.raw.query({
        text: "insert into roster_cache (owner, items, fetched_at, expires_at) select 'o' || i || '@example.org', '[]', $1::timestamptz - make_interval(mins => i), $1 from generate_series(0, 99) as i",
        values: [at(100 * MIN)],
      });
      const r = await sweepUserState({ db: db.raw, bounds: { batchRows: 1000, maxBatches: 1 }, capsMaxRows: 1000, rosterMaxAgeMs: 60 * MIN, now: () => at(100 * MIN) });
      assert.equal(r.roster_cache.deleted, 39);
      assert.equal(await count('roster_cache'), 61);
    });
  });
}

describe('user state sweep: many replicas at once', () => {
  test('three replicas sweeping one Postgres delete each expired row exactly once, without waiting on each other', async () => {
    const temp = await createTempDatabase('dbroker_userstate');
    const handles = await Promise.all([0, 1, 2].map(() => createDatabase({ url: temp.url })));
    try {
      const { runMigrations, MIGRATIONS_DIR } = await import('@dbroker/store');
      await runMigrations(handles[0]!.db, { migrationsDir: MIGRATIONS_DIR });
      await handles[0]!.raw.query({
        text: "insert into presence_sessions (full_jid, bare_jid, available_at, updated_at, expires_at) select 'u' || i || '@example.org/r', 'u' || i || '@example.org', $1, $1, $1 from generate_series(1, 3000) as i",
        values: [new Date(T0)],
      });
      const results = await Promise.all(
        handles.map((h) => sweepUserState({ db: h.raw, bounds: { batchRows: 100, maxBatches: 100 }, capsMaxRows: 1000, rosterMaxAgeMs: MIN, now: () => new Date(T0 + MIN) })),
      );
      assert.equal(results.reduce((n, r) => n + r.presence_sessions.deleted, 0), 3000);
      assert.equal(Number((await handles[0]!.raw.query<{ n: number }>({ text: 'select count(*)::int as n from presence_sessions' }))[0]!.n), 0);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await temp.drop();
    }
  });
});
