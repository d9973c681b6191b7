import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Caps, IqRequestEnvelope } from '@dbroker/bus';
import { createCapsResolver } from './caps';
import { BACKENDS, cannedIngress, captureLogger, COMPLEX_QUERY, COMPLEX_VER, openTestDb, settle, SIMPLE_QUERY, SIMPLE_VER, testClock, type TestDb } from './test-fixtures';

const ROMEO = 'romeo@montague.lit/orchard';
const NURSE = 'nurse@capulet.lit/chamber';
const EXODUS: Caps = { node: 'http://code.google.com/p/exodus', ver: SIMPLE_VER, hash: 'sha-1' };
const PSI: Caps = { node: 'http://psi-im.org', ver: COMPLEX_VER, hash: 'sha-1' };
const UNVERIFIED_TTL = 300_000;
const FAILURE_TTL = 30_000;
const SIMPLE_FEATURES = ['http://jabber.org/protocol/caps', 'http://jabber.org/protocol/disco#info', 'http://jabber.org/protocol/disco#items', 'http://jabber.org/protocol/muc'];

/** The result IQ `to` would send for a disco#info `env`, with `query` as its payload. */
const result = (env: IqRequestEnvelope, query: string) => `<iq xmlns='jabber:client' type='result' id='d1' from='${env.to}' to='pubsub.example.org'>${query}</iq>`;
const TAMPERED = SIMPLE_QUERY.replace('</query>', "<feature var='urn:xmpp:avatar:metadata+notify'/></query>");

for (const backend of BACKENDS) {
  describe(`caps resolver on ${backend}`, () => {
    let db: TestDb;
    before(async () => {
      db = await openTestDb(backend);
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      await db.handle.raw.query({ text: 'delete from caps_cache' });
    });

    const rowOf = async (caps: Caps) =>
      (await db.handle.raw.query<{ features: string[]; identities: unknown[]; verified: string; fetched_at: Date; expires_at: Date | null }>({
        text: 'select features, identities, verified, fetched_at, expires_at from caps_cache where hash = $1 and ver = $2',
        values: [caps.hash, caps.ver],
      }))[0];

    /** One replica: its own process memory, the shared database. */
    function replica(answer: Parameters<typeof cannedIngress>[0], clock = testClock()) {
      const ingress = cannedIngress(answer);
      const logger = captureLogger();
      const resolver = createCapsResolver({ db: db.raw, sendIq: ingress.sendIq, timeoutMs: 1_500, unverifiedTtlMs: UNVERIFIED_TTL, failureTtlMs: FAILURE_TTL, logger, worker: 'pep@test', now: clock.now });
      return { ingress, logger, resolver, clock };
    }

    test('unknown caps: disco#info to the full JID with node#ver, verified, cached for good and shared', async () => {
      const a = replica((env) => result(env, SIMPLE_QUERY));
      assert.deepEqual([...((await a.resolver.features(ROMEO, EXODUS)) ?? [])].sort(), SIMPLE_FEATURES);
      assert.deepEqual(a.ingress.calls, [{ v: 1, kind: 'disco-info', to: ROMEO, node: `${EXODUS.node}#${SIMPLE_VER}`, worker: 'pep@test', timeoutMs: 1_500 }]);
      const row = await rowOf(EXODUS);
      assert.equal(row?.verified, 'yes');
      assert.equal(row?.expires_at, null);
      assert.deepEqual(row?.features, SIMPLE_FEATURES);
      assert.deepEqual(row?.identities, [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }]);
      assert.equal(a.logger.entries.length, 0);

      // the nurse uses the same client: no query, here (memory) or on another replica (database), even much later
      assert.equal((await a.resolver.features(NURSE, EXODUS))?.size, 4);
      const b = replica(() => {
        throw new Error('must not be asked');
      });
      b.clock.advance(365 * 86_400_000);
      assert.equal((await b.resolver.features(NURSE, EXODUS))?.size, 4);
      assert.equal(a.ingress.calls.length + b.ingress.calls.length, 1);
    });

    test('the XEP-0115 complex example verifies (forms and several identities)', async () => {
      const a = replica((env) => result(env, COMPLEX_QUERY));
      assert.equal((await a.resolver.features('benvolio@capulet.lit/230193', PSI))?.has('http://jabber.org/protocol/muc'), true);
      assert.equal((await rowOf(PSI))?.verified, 'yes');
    });

    test('single flight: concurrent resolutions of one (hash, ver) send one query', async () => {
      const a = replica((env) => result(env, SIMPLE_QUERY));
      a.ingress.hold();
      const pending = [ROMEO, NURSE, ROMEO, 'tybalt@capulet.lit/x'].map((jid) => a.resolver.features(jid, EXODUS));
      const psi = a.resolver.features('benvolio@capulet.lit/230193', { ...PSI, ver: 'other=' });
      while (a.ingress.calls.length < 2) await settle();
      a.ingress.release();
      for (const r of await Promise.all(pending)) assert.equal(r?.size, 4);
      await psi;
      assert.deepEqual(a.ingress.calls.map((c) => c.to), [ROMEO, 'benvolio@capulet.lit/230193']);
    });

    test('an answer that does not match its ver: features used, logged, cached for unverifiedTtlMs only', async () => {
      let answer = TAMPERED;
      const a = replica((env) => result(env, answer));
      const features = await a.resolver.features(ROMEO, EXODUS);
      assert.equal(features?.has('urn:xmpp:avatar:metadata+notify'), true);
      assert.equal(a.logger.entries.length, 1);
      assert.match(a.logger.entries[0]!.msg ?? '', /does not verify/);
      const row = await rowOf(EXODUS);
      assert.equal(row?.verified, 'no');
      assert.equal(row?.expires_at?.getTime(), a.clock.ms + UNVERIFIED_TTL);

      // within the window another replica uses it without asking; after it, it asks again
      const b = replica((env) => result(env, SIMPLE_QUERY));
      b.clock.set(a.clock.ms + UNVERIFIED_TTL - 1);
      assert.equal((await b.resolver.features(NURSE, EXODUS))?.has('urn:xmpp:avatar:metadata+notify'), true);
      assert.equal(b.ingress.calls.length, 0);
      b.clock.advance(1);
      const verified = await b.resolver.features(NURSE, EXODUS);
      assert.equal(verified?.has('urn:xmpp:avatar:metadata+notify'), false);
      assert.equal(b.ingress.calls.length, 1);
      assert.equal((await rowOf(EXODUS))?.verified, 'yes', 'a verified answer replaces an unverified one');
      assert.equal((await rowOf(EXODUS))?.expires_at, null);

      // and the first replica (which never had it verified in memory) now reads the verified row
      answer = TAMPERED;
      a.clock.advance(UNVERIFIED_TTL);
      assert.equal((await a.resolver.features(ROMEO, EXODUS))?.has('urn:xmpp:avatar:metadata+notify'), false);
      assert.equal(a.ingress.calls.length, 1);
    });

    test('an unverified answer never replaces a verified one (two replicas racing)', async () => {
      const liar = replica((env) => result(env, TAMPERED));
      const honest = replica((env) => result(env, SIMPLE_QUERY));
      liar.ingress.hold();
      const slow = liar.resolver.features(ROMEO, EXODUS);
      while (liar.ingress.calls.length < 1) await settle();
      assert.equal((await honest.resolver.features(NURSE, EXODUS))?.size, 4);
      liar.ingress.release();
      assert.equal((await slow)?.has('urn:xmpp:avatar:metadata+notify'), true, 'the answering entity still gets its own features');
      const row = await rowOf(EXODUS);
      assert.equal(row?.verified, 'yes');
      assert.deepEqual(row?.features, SIMPLE_FEATURES);
    });

    test('unsupported hash function (md5) and ill-formed answers: used, not verified', async () => {
      const md5: Caps = { ...EXODUS, hash: 'md5', ver: 'whatever==' };
      const a = replica((env) => result(env, SIMPLE_QUERY));
      assert.equal((await a.resolver.features(ROMEO, md5))?.size, 4);
      assert.equal((await rowOf(md5))?.verified, 'no');
      assert.match(String((a.logger.entries[0]?.obj as { why?: string }).why), /unsupported hash/);

      const dup = replica((env) => result(env, SIMPLE_QUERY.replace('</query>', "<feature var='http://jabber.org/protocol/muc'/></query>")));
      const features = await dup.resolver.features(ROMEO, EXODUS);
      assert.equal(features?.size, 4, 'duplicates collapse');
      assert.equal((await rowOf(EXODUS))?.verified, 'no');
      assert.match(String((dup.logger.entries[0]?.obj as { why?: string }).why), /ill-formed/);
    });

    test('no answer: null, not cached in the database, not retried for that resource within failureTtlMs', async () => {
      let mode: 'timeout' | 'error' | 'empty' | 'ok' = 'timeout';
      const a = replica((env) => {
        if (mode === 'timeout') return { v: 1, ok: false, error: 'timeout', reason: 'no answer within 1500 ms' };
        if (mode === 'error') return `<iq xmlns='jabber:client' type='error' id='d1' from='${env.to}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`;
        if (mode === 'empty') return result(env, '');
        return result(env, SIMPLE_QUERY);
      });
      assert.equal(await a.resolver.features(ROMEO, EXODUS), null);
      assert.equal(await rowOf(EXODUS), undefined);
      assert.equal(a.logger.entries.length, 1);
      assert.equal(await a.resolver.features(ROMEO, EXODUS), null, 'remembered');
      assert.equal(a.ingress.calls.length, 1);

      mode = 'error';
      assert.equal(await a.resolver.features(NURSE, EXODUS), null, 'another resource is asked');
      assert.equal(a.ingress.calls.length, 2);
      mode = 'empty';
      assert.equal(await a.resolver.features('tybalt@capulet.lit/x', EXODUS), null, 'a result without a query');
      assert.equal(a.ingress.calls.length, 3);

      mode = 'ok';
      a.clock.advance(FAILURE_TTL - 1);
      assert.equal(await a.resolver.features(ROMEO, EXODUS), null);
      a.clock.advance(1);
      assert.equal((await a.resolver.features(ROMEO, EXODUS))?.size, 4, 'asked again after failureTtlMs');
      assert.equal(a.ingress.calls.length, 4);
    });
  });
}
