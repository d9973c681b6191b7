import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Caps, IqRequestEnvelope, PresenceEnvelope } from '@dbroker/bus';
import { parseXml } from '@dbroker/protocol';
import { capsVer, readDiscoInfo, verificationString } from './caps-hash';
import { createCapsResolver } from './caps';
import { buildAudience, notifyNodesOf } from './notify-audience';
import { createPresenceStore, type PresenceStore } from './presence';
import { createRosterCache, type RosterCache } from './roster';
import { BACKENDS, cannedIngress, captureLogger, openTestDb, testClock, type TestDb } from './test-fixtures';

const OWNER = 'alice@example.org';
const TTL = 600_000;

/** A client's disco#info answer and the caps that verify it. */
function client(node: string, features: string[]): { query: string; caps: Caps } {
  const query = `<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='phone' name='${node}'/>${features.map((f) => `<feature var='${f}'/>`).join('')}</query>`;
  const s = verificationString(readDiscoInfo(parseXml(query)));
  assert.ok(s.ok);
  return { query, caps: { node, ver: capsVer(s.value, 'sha-1')!, hash: 'sha-1' } };
}

const AVATAR = client('https://a.example', ['http://jabber.org/protocol/caps', 'urn:xmpp:avatar:metadata+notify', 'http://jabber.org/protocol/geoloc+notify', 'http://jabber.org/protocol/geoloc']);
const MOOD = client('https://m.example', ['http://jabber.org/protocol/mood+notify', '+notify']);
const SILENT = client('https://s.example', ['http://jabber.org/protocol/caps']);
const CLIENTS = [AVATAR, MOOD, SILENT];

const ROSTER = `<iq xmlns='jabber:client' type='result' id='r' from='${OWNER}'><query xmlns='jabber:iq:roster'>
  <item jid='bob@example.org' subscription='both'><group>Friends</group></item>
  <item jid='carol@remote.example' subscription='from'/>
  <item jid='dave@example.org' subscription='to'><group>Work</group><group>Friends</group></item>
  <item jid='eve@example.org' subscription='none' ask='subscribe'/>
  <item jid='erin@example.org' subscription='both'/>
  <item jid='${OWNER}' subscription='both'/>
</query></iq>`;

describe('notifyNodesOf', () => {
  test('the node names of `+notify` features, nothing for a bare `+notify` or none', () => {
    assert.deepEqual([...notifyNodesOf(['urn:a+notify', 'urn:b', '+notify', 'urn:c+notify', 'urn:a+notify'])], ['urn:a', 'urn:c']);
    assert.equal(notifyNodesOf(null).size, 0);
  });
});

for (const backend of BACKENDS) {
  describe(`buildAudience on ${backend}`, () => {
    let db: TestDb;
    let clock: ReturnType<typeof testClock>;
    let presence: PresenceStore;
    before(async () => {
      db = await openTestDb(backend);
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      for (const table of ['presence_sessions', 'roster_cache', 'caps_cache']) await db.handle.raw.query({ text: `delete from ${table}` });
      clock = testClock();
      presence = createPresenceStore({ db: db.raw, ttlMs: TTL, now: clock.now });
    });

    const online = (from: string, caps?: Caps, agoMs = 0): PresenceEnvelope => ({
      v: 1,
      server: 'example.org',
      from,
      available: true,
      ...(caps ? { caps } : {}),
      delayed: false,
      receivedAt: new Date(clock.ms - agoMs).toISOString(),
    });

    function deps(rosterAnswer: (env: IqRequestEnvelope) => ReturnType<Parameters<typeof cannedIngress>[0]> = () => ROSTER) {
      const ingress = cannedIngress((env) => {
        if (env.kind === 'roster-get') return rosterAnswer(env);
        const known = CLIENTS.find((c) => env.node === `${c.caps.node}#${c.caps.ver}`);
        return known ? `<iq xmlns='jabber:client' type='result' id='d' from='${env.to}'>${known.query}</iq>` : { v: 1, ok: false, error: 'timeout', reason: 'no answer' };
      });
      const logger = captureLogger();
      const roster: RosterCache = createRosterCache({ db: db.raw, sendIq: ingress.sendIq, ttlMs: TTL, timeoutMs: 1_000, worker: 'pep@test', logger, now: clock.now });
      const caps = createCapsResolver({ db: db.raw, sendIq: ingress.sendIq, timeoutMs: 1_000, unverifiedTtlMs: 60_000, worker: 'pep@test', logger, now: clock.now });
      return { ingress, roster, caps };
    }

    test('the owner resources and every online resource of the roster, with their +notify nodes', async () => {
      await presence.applyPresence(online(`${OWNER}/phone`, AVATAR.caps));
      await presence.applyPresence(online(`${OWNER}/desk`));
      await presence.applyPresence(online('bob@example.org/pc', AVATAR.caps));
      await presence.applyPresence(online('bob@example.org/tab', MOOD.caps));
      await presence.applyPresence(online('carol@remote.example/x'));
      await presence.applyPresence(online('dave@example.org/1', SILENT.caps));
      await presence.applyPresence(online('eve@example.org/1', AVATAR.caps));
      await presence.applyPresence(online('erin@example.org/gone', AVATAR.caps, TTL - 1));
      await presence.applyPresence(online('mallory@example.org/1', AVATAR.caps));
      await presence.applyPresence(online('dave@example.org/2', { node: 'https://broken.example', ver: 'x=', hash: 'sha-1' }));
      clock.advance(1);

      const { ingress, roster, caps } = deps();
      const first = db.queries.length;
      const audience = await buildAudience({ owner: 'Alice@example.org', roster, presence, caps });
      assert.equal(db.queries.slice(first).filter((q) => q.startsWith('dbroker_userstate_presence')).length, 1, 'one presence query for the owner and all contacts');
      assert.deepEqual(audience.ownerResources, [`${OWNER}/desk`, `${OWNER}/phone`]);
      const contacts = audience.contacts.map((c) => ({ ...c, notifyNodes: [...c.notifyNodes].sort() }));
      assert.deepEqual(contacts, [
        { fullJid: 'bob@example.org/pc', bareJid: 'bob@example.org', subscription: 'both', groups: ['Friends'], notifyNodes: ['http://jabber.org/protocol/geoloc', 'urn:xmpp:avatar:metadata'] },
        { fullJid: 'bob@example.org/tab', bareJid: 'bob@example.org', subscription: 'both', groups: ['Friends'], notifyNodes: ['http://jabber.org/protocol/mood'] },
        { fullJid: 'carol@remote.example/x', bareJid: 'carol@remote.example', subscription: 'from', groups: [], notifyNodes: [] },
        { fullJid: 'dave@example.org/1', bareJid: 'dave@example.org', subscription: 'to', groups: ['Work', 'Friends'], notifyNodes: [] },
        { fullJid: 'dave@example.org/2', bareJid: 'dave@example.org', subscription: 'to', groups: ['Work', 'Friends'], notifyNodes: [] },
        { fullJid: 'eve@example.org/1', bareJid: 'eve@example.org', subscription: 'none', groups: [], notifyNodes: ['http://jabber.org/protocol/geoloc', 'urn:xmpp:avatar:metadata'] },
      ]);
      // one roster get, one disco#info per distinct caps (AVATAR shared by bob and eve), the broken one failed
      assert.equal(ingress.calls.filter((c) => c.kind === 'roster-get').length, 1);
      assert.deepEqual(ingress.calls.filter((c) => c.kind === 'disco-info').map((c) => c.node).sort(), [
        `${AVATAR.caps.node}#${AVATAR.caps.ver}`,
        `${MOOD.caps.node}#${MOOD.caps.ver}`,
        `${SILENT.caps.node}#${SILENT.caps.ver}`,
        'https://broken.example#x=',
      ].sort());

      // a second publish: everything from the caches (the failed caps are remembered for a while)
      const calls = ingress.calls.length;
      const again = await buildAudience({ owner: OWNER, roster, presence, caps });
      assert.equal(again.contacts.length, 6);
      assert.equal(ingress.calls.length, calls);
    });

    test('maxResources bounds the audience: the owner first, then contacts; the rest is counted and never resolved', async () => {
      await presence.applyPresence(online(`${OWNER}/phone`, AVATAR.caps));
      await presence.applyPresence(online(`${OWNER}/desk`));
      await presence.applyPresence(online('bob@example.org/pc', AVATAR.caps));
      await presence.applyPresence(online('bob@example.org/tab', MOOD.caps));
      await presence.applyPresence(online('dave@example.org/1', SILENT.caps));
      await presence.applyPresence(online('eve@example.org/1', AVATAR.caps));
      clock.advance(1);
      const { ingress, roster, caps } = deps();
      const audience = await buildAudience({ owner: OWNER, roster, presence, caps, maxResources: 3 });
      assert.deepEqual(audience.ownerResources, [`${OWNER}/desk`, `${OWNER}/phone`]);
      assert.deepEqual(audience.contacts.map((c) => c.fullJid), ['bob@example.org/pc']);
      assert.equal(audience.truncated, 3);
      assert.deepEqual(ingress.calls.filter((c) => c.kind === 'disco-info').map((c) => c.node), [`${AVATAR.caps.node}#${AVATAR.caps.ver}`]);
      const exact = await buildAudience({ owner: OWNER, roster, presence, caps, maxResources: 6 });
      assert.equal(exact.contacts.length + exact.ownerResources.length, 6);
      assert.equal(exact.truncated, 0);
    });

    test('no roster (fetch failed, nothing cached): no contacts, the owner still gets its own', async () => {
      await presence.applyPresence(online(`${OWNER}/phone`));
      await presence.applyPresence(online('bob@example.org/pc', AVATAR.caps));
      const { roster, caps } = deps(() => ({ v: 1, ok: false, error: 'no-permission', reason: 'roster not granted' }));
      assert.deepEqual(await buildAudience({ owner: OWNER, roster, presence, caps }), { ownerResources: [`${OWNER}/phone`], contacts: [], truncated: 0 });
    });

    test('nobody online: empty', async () => {
      const { roster, caps } = deps();
      assert.deepEqual(await buildAudience({ owner: OWNER, roster, presence, caps }), { ownerResources: [], contacts: [], truncated: 0 });
    });
  });
}
