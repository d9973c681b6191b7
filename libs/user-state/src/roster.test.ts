import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import type { CachedRosterItem } from '@dbroker/store';
import { createRosterCache, parseRosterResult } from './roster';
import { BACKENDS, cannedIngress, captureLogger, openTestDb, settle, testClock, type TestDb } from './test-fixtures';

const OWNER = 'alice@example.org';
const TTL = 60_000;

const rosterIq = (items: string, from = OWNER) =>
  `<iq xmlns='jabber:client' type='result' id='r1' from='${from}' to='pubsub.example.org'><query xmlns='jabber:iq:roster' ver='v1'>${items}</query></iq>`;
const ITEMS_V1 = "<item jid='bob@example.org' name='Bob' subscription='both'><group>Friends</group></item><item jid='carol@remote.example' subscription='from'/>";
const ITEMS_V2 = "<item jid='dave@example.org' subscription='to' ask='subscribe'/>";
const V1: CachedRosterItem[] = [
  { jid: 'bob@example.org', subscription: 'both', groups: ['Friends'] },
  { jid: 'carol@remote.example', subscription: 'from', groups: [] },
];
const V2: CachedRosterItem[] = [{ jid: 'dave@example.org', subscription: 'to', ask: true, groups: [] }];

describe('parseRosterResult', () => {
  test('RFC 6121 roster result: items, groups, ask', () => {
    const r = parseRosterResult(parseXml(rosterIq(ITEMS_V1 + ITEMS_V2)));
    assert.deepEqual(r, { ok: true, items: [...V1, ...V2] });
  });

  test('defensive: bad JIDs, duplicates, remove, unknown subscriptions, repeated and empty groups, case', () => {
    const items =
      "<item jid='Bob@Example.ORG' subscription='both'><group>A</group><group>A</group><group></group><group>B</group></item>" +
      "<item jid='bob@example.org' subscription='none'/>" +
      "<item jid='' subscription='both'/><item subscription='both'/><item jid='a@b@c' subscription='both'/>" +
      "<item jid='gone@example.org' subscription='remove'/>" +
      "<item jid='odd@example.org' subscription='everything'/><item jid='bare@example.org'/>" +
      "<item xmlns='urn:other' jid='x@example.org' subscription='both'/>";
    assert.deepEqual(parseRosterResult(parseXml(rosterIq(items))), {
      ok: true,
      items: [
        { jid: 'bob@example.org', subscription: 'both', groups: ['A', 'B'] },
        { jid: 'odd@example.org', subscription: 'none', groups: [] },
        { jid: 'bare@example.org', subscription: 'none', groups: [] },
      ],
    });
  });

  test('an empty roster is an empty list', () => {
    assert.deepEqual(parseRosterResult(parseXml(rosterIq(''))), { ok: true, items: [] });
  });

  test('error IQs, results without a roster query and other stanzas are refused', () => {
    for (const text of [
      "<iq xmlns='jabber:client' type='error' id='r1'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
      "<iq xmlns='jabber:client' type='result' id='r1'/>",
      "<iq xmlns='jabber:client' type='result' id='r1'><query xmlns='jabber:iq:private'/></iq>",
      "<message xmlns='jabber:client'/>",
    ]) {
      assert.equal(parseRosterResult(parseXml(text)).ok, false, text);
    }
  });
});

for (const backend of BACKENDS) {
  describe(`roster cache on ${backend}`, () => {
    let db: TestDb;
    before(async () => {
      db = await openTestDb(backend);
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      await db.handle.raw.query({ text: 'delete from roster_cache' });
    });

    const rowOf = async (owner = OWNER) =>
      (await db.handle.raw.query<{ items: CachedRosterItem[]; fetched_at: Date; expires_at: Date }>({ text: 'select items, fetched_at, expires_at from roster_cache where owner = $1', values: [owner] }))[0];

    function setup(answer: Parameters<typeof cannedIngress>[0] = () => rosterIq(ITEMS_V1)) {
      const clock = testClock();
      const ingress = cannedIngress(answer);
      const logger = captureLogger();
      const cache = createRosterCache({ db: db.raw, sendIq: ingress.sendIq, ttlMs: TTL, timeoutMs: 2_000, worker: 'pep@test', logger, now: clock.now });
      return { clock, ingress, logger, cache };
    }

    test('a miss fetches with a roster-get envelope and stores the roster for ttl', async () => {
      const { clock, ingress, cache } = setup();
      assert.deepEqual(await cache.getRoster('Alice@Example.org'), V1);
      assert.deepEqual(ingress.calls, [{ v: 1, kind: 'roster-get', to: OWNER, worker: 'pep@test', timeoutMs: 2_000 }]);
      const row = await rowOf();
      assert.deepEqual(row?.items, V1);
      assert.equal(row?.fetched_at.getTime(), clock.ms);
      assert.equal(row?.expires_at.getTime(), clock.ms + TTL);
    });

    test('a fresh row is served without a fetch, by this replica and by another', async () => {
      const a = setup();
      await a.cache.getRoster(OWNER);
      const b = setup(() => {
        throw new Error('must not be asked');
      });
      b.clock.set(a.clock.ms + TTL - 1);
      assert.deepEqual(await a.cache.getRoster(OWNER), V1);
      assert.deepEqual(await b.cache.getRoster(OWNER), V1);
      assert.equal(a.ingress.calls.length, 1);
      assert.equal(b.ingress.calls.length, 0);
    });

    test('past the ttl the roster is fetched again and replaced', async () => {
      let items = ITEMS_V1;
      const { clock, ingress, cache } = setup(() => rosterIq(items));
      await cache.getRoster(OWNER);
      items = ITEMS_V2;
      clock.advance(TTL);
      assert.deepEqual(await cache.getRoster(OWNER), V2);
      assert.equal(ingress.calls.length, 2);
      assert.equal((await rowOf())?.expires_at.getTime(), clock.ms + TTL);
    });

    test('concurrent callers for one owner share one read and one fetch (single flight)', async () => {
      const { ingress, cache } = setup();
      const firstQuery = db.queries.length;
      ingress.hold();
      const calls = Array.from({ length: 8 }, () => cache.getRoster(OWNER));
      const other = cache.getRoster('zoe@example.org');
      while (ingress.calls.length < 2) await settle();
      ingress.release();
      const results = await Promise.all(calls);
      for (const r of results) assert.deepEqual(r, V1);
      await other;
      assert.deepEqual(ingress.calls.map((c) => c.to).sort(), [OWNER, 'zoe@example.org']);
      assert.equal(db.queries.slice(firstQuery).filter((q) => q === 'dbroker_userstate_roster_get').length, 2, 'one read per owner');
      // settled: later calls read the stored row
      assert.deepEqual(await cache.getRoster(OWNER), V1);
      assert.equal(ingress.calls.length, 2);
    });

    test('a failed fetch returns the stale row (logged) and leaves it as it was', async () => {
      let fail = false;
      const { clock, ingress, logger, cache } = setup(() => (fail ? { v: 1, ok: false, error: 'no-permission', reason: 'roster get not granted' } : rosterIq(ITEMS_V1)));
      await cache.getRoster(OWNER);
      const before = await rowOf();
      fail = true;
      clock.advance(TTL + 5);
      assert.deepEqual(await cache.getRoster(OWNER), V1);
      assert.equal(ingress.calls.length, 2);
      assert.deepEqual(await rowOf(), before);
      assert.equal(logger.entries.length, 1);
      assert.match(logger.entries[0]!.msg ?? '', /stale/);
      assert.match(String((logger.entries[0]!.obj as { reason: string }).reason), /no-permission/);
    });

    test('the stale row is used for ROSTER_STALE_MAX_MS after its fetch only, then it counts as no roster', async () => {
      let fail = false;
      const clock = testClock();
      const ingress = cannedIngress(() => (fail ? { v: 1, ok: false, error: 'timeout', reason: 'no answer' } : rosterIq(ITEMS_V1)));
      const logger = captureLogger();
      const cache = createRosterCache({ db: db.raw, sendIq: ingress.sendIq, ttlMs: TTL, staleMaxMs: 10 * TTL, timeoutMs: 2_000, worker: 'pep@test', logger, now: clock.now });
      await cache.getRoster(OWNER);
      fail = true;
      clock.advance(10 * TTL);
      assert.deepEqual(await cache.getRoster(OWNER), V1, 'at the bound: still used');
      clock.advance(1);
      assert.equal(await cache.getRoster(OWNER), null, 'past it: fail closed');
      assert.match(logger.entries.at(-1)!.msg ?? '', /too old/);
      assert.ok(await rowOf(), 'the row stays (the sweep removes it by age)');
      fail = false;
      assert.deepEqual(await cache.getRoster(OWNER), V1, 'a fetch that works again restores it');
    });

    test('a failed fetch without any row is null (no contacts), whatever the failure', async () => {
      const failures: Array<() => ReturnType<Parameters<typeof cannedIngress>[0]>> = [
        () => ({ v: 1, ok: false, error: 'offline', reason: 'no component link' }),
        () => ({ v: 1, ok: false, error: 'timeout', reason: 'no answer' }),
        () => "<iq xmlns='jabber:client' type='error' id='r1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        () => "<iq xmlns='jabber:client' type='result' id='r1'/>",
        () => '<iq type=result',
        () => {
          throw new Error('nats closed');
        },
      ];
      for (const [i, answer] of failures.entries()) {
        const { logger, cache } = setup(answer);
        assert.equal(await cache.getRoster(`u${i}@example.org`), null, `failure ${i}`);
        assert.equal(await rowOf(`u${i}@example.org`), undefined);
        assert.equal(logger.entries.length, 1, `failure ${i} logged`);
      }
    });

    test('not a bare user JID: null without asking', async () => {
      const { ingress, cache } = setup();
      for (const bad of ['alice@example.org/phone', 'example.org', 'not a jid@@']) assert.equal(await cache.getRoster(bad), null);
      assert.equal(ingress.calls.length, 0);
    });

    test('invalidate: the next call fetches again (the row stays as the stale fallback)', async () => {
      let items = ITEMS_V1;
      const { clock, ingress, cache } = setup(() => rosterIq(items));
      await cache.getRoster(OWNER);
      await cache.invalidate(OWNER);
      const row = await rowOf();
      assert.deepEqual(row?.items, V1);
      assert.equal(row?.expires_at.getTime(), clock.ms);
      items = ITEMS_V2;
      assert.deepEqual(await cache.getRoster(OWNER), V2);
      assert.equal(ingress.calls.length, 2);
    });

    test('invalidate during a fetch: that fetch answers its callers but is not stored, later callers do not join it', async () => {
      let items = ITEMS_V1;
      const { clock, ingress, cache } = setup(() => rosterIq(items));
      await cache.getRoster(OWNER);
      await cache.invalidate(OWNER);
      ingress.hold();
      const running = cache.getRoster(OWNER);
      while (ingress.calls.length < 2) await settle();
      await cache.invalidate(OWNER);
      const later = cache.getRoster(OWNER);
      while (ingress.calls.length < 3) await settle();
      items = ITEMS_V2;
      ingress.release();
      assert.deepEqual(await running, V2);
      assert.deepEqual(await later, V2);
      assert.equal(ingress.calls.length, 3);

      // the same without the later caller: nothing stored, the row is still the expired V1
      await cache.invalidate(OWNER);
      items = ITEMS_V1;
      clock.advance(1);
      await cache.getRoster(OWNER); // V1 stored again
      await cache.invalidate(OWNER);
      const before = await rowOf();
      ingress.hold();
      const forgotten = cache.getRoster(OWNER);
      while (ingress.calls.length < 5) await settle();
      await cache.invalidate(OWNER);
      items = ITEMS_V2;
      ingress.release();
      assert.deepEqual(await forgotten, V2);
      assert.deepEqual(await rowOf(), before);
    });

    test('two replicas: an older fetch finishing last does not replace a newer one', async () => {
      const a = setup(() => rosterIq(ITEMS_V1));
      const b = setup(() => rosterIq(ITEMS_V2));
      a.ingress.hold();
      const slow = a.cache.getRoster(OWNER);
      while (a.ingress.calls.length < 1) await settle();
      b.clock.advance(1_000);
      assert.deepEqual(await b.cache.getRoster(OWNER), V2);
      a.ingress.release();
      assert.deepEqual(await slow, V1);
      const row = await rowOf();
      assert.deepEqual(row?.items, V2);
      assert.equal(row?.fetched_at.getTime(), b.clock.ms);
    });
  });
}
