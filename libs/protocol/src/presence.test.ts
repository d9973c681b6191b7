import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import xml from '@xmpp/xml';
import { CAPS_LIMITS, CAPS_NS, parseForwardedPresence, readCaps, type PresenceContext, type PresenceParse } from './presence';
import { parseXml } from './xml-parse';

const CTX: PresenceContext = { serverDomain: 'localhost', componentDomain: 'pubsub.localhost' };
const REMOTE_OK: PresenceContext = { ...CTX, acceptRemote: true };

// What Prosody 0.12 mod_privilege sends, copied from its stream (test/e2e/user-state.test.ts).
const PROSODY_LIVE = `<presence from="alice@localhost/phone" to="pubsub.localhost" xml:lang="en"><c ver="ALICEVER=" node="https://y" hash="sha-1" xmlns="http://jabber.org/protocol/caps"/></presence>`;
const PROSODY_REPLAY = `<presence from="bob@localhost/early" to="pubsub.localhost" xml:lang="en"><c ver="BOBVER=" node="https://x" hash="sha-1" xmlns="http://jabber.org/protocol/caps"/><delay stamp="2026-11-24T05:08:54Z" from="localhost" xmlns="urn:xmpp:delay"/></presence>`;
const PROSODY_GONE = `<presence from="alice@localhost/phone" type="unavailable" to="pubsub.localhost"/>`;

const parse = (s: string, ctx: PresenceContext = CTX): PresenceParse => parseForwardedPresence(parseXml(s), ctx);

function dropped(r: PresenceParse, kind: string, pattern?: RegExp) {
  assert.equal(r.ok, false, JSON.stringify(r));
  if (r.ok) return;
  assert.equal(r.kind, kind, r.reason);
  if (pattern) assert.match(r.reason, pattern);
}

describe('parseForwardedPresence', () => {
  it("reads Prosody's live, replayed and unavailable presences", () => {
    assert.deepEqual(parse(PROSODY_LIVE), {
      ok: true,
      value: { from: 'alice@localhost/phone', available: true, delayed: false, local: true, caps: { node: 'https://y', ver: 'ALICEVER=', hash: 'sha-1' } },
    });
    const replay = parse(PROSODY_REPLAY);
    assert.ok(replay.ok && replay.value.delayed && replay.value.available && replay.value.caps?.ver === 'BOBVER=');
    assert.deepEqual(parse(PROSODY_GONE), { ok: true, value: { from: 'alice@localhost/phone', available: false, delayed: false, local: true } });
  });

  it('normalizes the sender: domain and localpart lowercased, resource kept', () => {
    const r = parse(`<presence from='Alice@LocalHost/Phone' to='pubsub.localhost'/>`);
    assert.ok(r.ok && r.value.from === 'alice@localhost/Phone');
  });

  it('XEP-0091 legacy delay counts as delayed; a delay in another namespace does not', () => {
    const legacy = parse(`<presence from='a@localhost/r'><x xmlns='jabber:x:delay' stamp='20020910T23:41:07'/></presence>`);
    assert.ok(legacy.ok && legacy.value.delayed);
    const other = parse(`<presence from='a@localhost/r'><delay xmlns='urn:example:delay'/></presence>`);
    assert.ok(other.ok && !other.value.delayed);
  });

  it('ignores every type but available and unavailable', () => {
    for (const t of ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error', 'bogus', '']) {
      dropped(parse(`<presence from='a@localhost/r' type='${t}'/>`), 'ignored', /presence of type/);
    }
    dropped(parseForwardedPresence(xml('message', { from: 'a@localhost/r' }), CTX), 'ignored', /not a <presence\/>/);
  });

  it('local senders: a full JID of a user only', () => {
    dropped(parse(`<presence from='alice@localhost'/>`), 'untrusted', /bare JID/);
    dropped(parse(`<presence from='localhost'/>`), 'untrusted', /server domain, not a user/);
    dropped(parse(`<presence from='localhost/res'/>`), 'untrusted', /server domain, not a user/);
  });

  it('other domains: only with acceptRemote (presence=roster), never the component domain', () => {
    dropped(parse(`<presence from='mallory@evil.example/x'/>`), 'untrusted', /did not grant presence='roster'/);
    dropped(parse(`<presence from='x@localhost.evil.example/r'/>`), 'untrusted');
    dropped(parse(`<presence from='x@sub.localhost/r'/>`), 'untrusted', /not on the served domain/);
    const remote = parse(`<presence from='carol@remote.example/laptop'/>`, REMOTE_OK);
    assert.deepEqual(remote, { ok: true, value: { from: 'carol@remote.example/laptop', available: true, delayed: false, local: false } });
    const bareRemote = parse(`<presence from='gateway.remote.example' type='unavailable'/>`, REMOTE_OK);
    assert.ok(bareRemote.ok && bareRemote.value.from === 'gateway.remote.example' && !bareRemote.value.available);
    dropped(parse(`<presence from='x@pubsub.localhost/r'/>`, REMOTE_OK), 'untrusted', /component's own domain/);
    dropped(parse(`<presence from='pubsub.localhost'/>`, REMOTE_OK), 'untrusted', /component's own domain/);
  });

  it('malformed: no from, invalid from, a to that is not the component', () => {
    dropped(parse(`<presence/>`), 'malformed', /no from/);
    dropped(parse(`<presence from=''/>`), 'malformed', /no from/);
    dropped(parse(`<presence from='a@b@localhost/r'/>`), 'malformed', /not a valid JID/);
    dropped(parse(`<presence from='@localhost/r'/>`), 'malformed', /not a valid JID/);
    dropped(parse(`<presence from='a@localhost/${'r'.repeat(1024)}'/>`), 'malformed', /not a valid JID/);
    dropped(parse(`<presence from='a@localhost/r' to='someone@pubsub.localhost'/>`), 'malformed', /not the component/);
    dropped(parse(`<presence from='a@localhost/r' to='localhost'/>`), 'malformed', /not the component/);
    assert.ok(parse(`<presence from='a@localhost/r' to='PubSub.LocalHost/x'/>`).ok, 'a resource of the component is still the component');
    assert.ok(parse(`<presence from='a@localhost/r'/>`).ok, 'no to: addressed to the stream, i.e. us');
    assert.ok(parseForwardedPresence(parseXml(`<presence from='a@localhost/r' to='anything.example'/>`), { serverDomain: 'localhost' }).ok, 'no componentDomain: to not checked');
  });
});

describe('readCaps', () => {
  const withCaps = (attrs: Record<string, string>, extra = '') =>
    parseXml(`<presence from='a@localhost/r'><c xmlns='${CAPS_NS}' ${Object.entries(attrs).map(([k, v]) => `${k}='${v}'`).join(' ')}/>${extra}</presence>`);
  const full = { hash: 'sha-1', node: 'https://conversations.im', ver: 'q07IKJEyjvHSyhy//CH0CxmKi8w=' };

  it('complete caps only', () => {
    assert.deepEqual(readCaps(withCaps(full)), full);
    for (const missing of ['hash', 'node', 'ver'] as const) {
      const { [missing]: _gone, ...rest } = full;
      assert.equal(readCaps(withCaps(rest)), undefined, `without ${missing} (legacy caps have no hash)`);
      assert.equal(readCaps(withCaps({ ...full, [missing]: '' })), undefined, `empty ${missing}`);
    }
  });

  it('out of bounds or odd values drop the caps, not the presence', () => {
    const huge = withCaps({ ...full, ver: 'A'.repeat(CAPS_LIMITS.ver + 1) });
    assert.equal(readCaps(huge), undefined);
    const r = parseForwardedPresence(huge, CTX);
    assert.ok(r.ok && r.value.caps === undefined && r.value.available);
    assert.deepEqual(readCaps(withCaps({ ...full, ver: 'A'.repeat(CAPS_LIMITS.ver) }))?.ver.length, CAPS_LIMITS.ver);
    assert.equal(readCaps(withCaps({ ...full, node: `https://${'n'.repeat(CAPS_LIMITS.node)}` })), undefined);
    assert.equal(readCaps(withCaps({ ...full, hash: 'h'.repeat(CAPS_LIMITS.hash + 1) })), undefined);
    assert.equal(readCaps(withCaps({ ...full, ver: 'a b' })), undefined, 'whitespace');
    assert.equal(readCaps(withCaps({ ...full, node: 'x&#9;y' })), undefined, 'a tab');
  });

  it('two <c/> elements are ambiguous; a <c/> in another namespace is not caps', () => {
    assert.equal(readCaps(withCaps(full, `<c xmlns='${CAPS_NS}' hash='sha-1' node='n' ver='v'/>`)), undefined);
    assert.equal(readCaps(parseXml(`<presence><c xmlns='urn:example' hash='sha-1' node='n' ver='v'/></presence>`)), undefined);
    assert.equal(readCaps(parseXml(`<presence><x><c xmlns='${CAPS_NS}' hash='sha-1' node='n' ver='v'/></x></presence>`)), undefined, 'only direct children');
  });

  it('property: never throws; accepted caps always respect the bounds', () => {
    const attr = fc.string({ maxLength: 300 });
    fc.assert(
      fc.property(attr, attr, attr, fc.string({ maxLength: 40 }), (hash, node, ver, from) => {
        const el = xml('presence', { from }, xml('c', { xmlns: CAPS_NS, hash, node, ver }));
        const r = parseForwardedPresence(el, REMOTE_OK);
        if (r.ok && r.value.caps) {
          const c = r.value.caps;
          assert.ok(c.node.length <= CAPS_LIMITS.node && c.ver.length <= CAPS_LIMITS.ver && c.hash.length <= CAPS_LIMITS.hash);
          assert.ok(!/\s/.test(c.node + c.ver + c.hash));
        }
      }),
      { numRuns: 300 },
    );
  });
});
