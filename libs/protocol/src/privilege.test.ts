import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import {
  NO_PRIVILEGES,
  PRIVILEGE_NS_1,
  PRIVILEGE_NS_2,
  buildPrivilegedMessage,
  checkPrivilegedOutbound,
  parsePrivilegeAdvertisement,
  privilegeVersionOf,
} from './privilege';
import type { PrivilegeAdvertisement } from './privilege';
import type { Result } from './result';
import { parseJid } from './jid';
import { parseXml } from './xml-parse';
import { isElementNode } from './xml-util';

// Stanzas of XEP-0356 v0.4.1 and of the two servers (protocol-notes §2); indentation as in the XEP.
const XEP_CTX = { serverDomain: 'capulet.lit', componentDomain: 'pubsub.capulet.lit' };
const LOCAL_CTX = { serverDomain: 'localhost', componentDomain: 'pubsub.localhost' };

/** XEP-0356 §3 "Server advertises entity allowed permissions" (roster both, message outgoing). */
const XEP_ADVERTISEMENT = `<message from='capulet.lit' to='pubsub.capulet.lit' id='54321'>
    <privilege xmlns='urn:xmpp:privilege:2'>
        <perm access='roster' type='both'/>
        <perm access='message' type='outgoing'/>
    </privilege>
</message>`;

/** XEP-0356 v0.4 IQ permission example. */
const XEP_IQ_ADVERTISEMENT = `<message from='capulet.lit' to='pubsub.capulet.lit' id='54322'>
    <privilege xmlns='urn:xmpp:privilege:2'>
        <perm access='iq'>
            <namespace ns='urn:xmpp:mam:2' type='both'/>
            <namespace ns='http://jabber.org/protocol/pubsub' type='set'/>
        </perm>
    </privilege>
</message>`;

/** Prosody mod_privilege (2023-02): only the permissions that are set, the component's bare JID as `to`. */
const PROSODY_ADVERTISEMENT =
  `<message xmlns='jabber:component:accept' from='localhost' to='pubsub.localhost'>` +
  `<privilege xmlns='urn:xmpp:privilege:2'>` +
  `<perm access='roster' type='get'/><perm access='message' type='outgoing'/><perm access='presence' type='roster'/>` +
  `</privilege></message>`;

/** Prosody with an `iq` permission configured: a namespace granted neither get nor set has no type. */
const PROSODY_IQ_ADVERTISEMENT =
  `<message from='localhost' to='pubsub.localhost'><privilege xmlns='urn:xmpp:privilege:2'>` +
  `<perm access='message' type='outgoing'/>` +
  `<perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub' type='set'/><namespace ns='urn:x:nothing'/></perm>` +
  `</privilege></message>`;

/** ejabberd 23.01: `:1`, every permission listed, `none` included, a message id. */
const EJABBERD_ADVERTISEMENT =
  `<message xmlns='jabber:component:accept' id='4157846163541405484' from='localhost' to='pubsub.localhost'>` +
  `<privilege xmlns='urn:xmpp:privilege:1'>` +
  `<perm access='roster' type='none'/><perm access='message' type='outgoing'/><perm access='presence' type='none'/>` +
  `</privilege></message>`;

/** XEP-0356 §4 "Privileged entity sends a notification" (the inner message as the XEP shows it). */
const XEP_NOTIFICATION_INNER = `<message from='juliet@capulet.lit' id='foo' to='romeo@montague.lit/orchard' xmlns='jabber:client'>
    <event xmlns='http://jabber.org/protocol/pubsub#event'>
        <items node='http://jabber.org/protocol/tune'>
            <item>
                <tune xmlns='http://jabber.org/protocol/tune'>
                    <artist>Gerald Finzi</artist>
                    <length>255</length>
                </tune>
            </item>
        </items>
    </event>
</message>`;

function value<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(`expected ok, got: ${r.reason} (${r.condition})`);
  return r.value;
}

function failure<T>(r: Result<T>, pattern: RegExp, condition = 'bad-request'): void {
  assert.ok(!r.ok, `expected a failure matching ${pattern}`);
  assert.match(r.reason, pattern);
  assert.equal(r.condition, condition, r.reason);
}

const adv = (text: string, ctx = LOCAL_CTX): Result<PrivilegeAdvertisement> => parsePrivilegeAdvertisement(parseXml(text), ctx);

describe('parsePrivilegeAdvertisement (XEP-0356 §3)', () => {
  it('reads the XEP example; unlisted permissions are none', () => {
    assert.deepEqual(value(adv(XEP_ADVERTISEMENT, XEP_CTX)), {
      version: PRIVILEGE_NS_2,
      perms: { roster: 'both', message: 'outgoing', presence: 'none', iq: [] },
    });
  });

  it('reads the XEP iq permission example (v2)', () => {
    assert.deepEqual(value(adv(XEP_IQ_ADVERTISEMENT, XEP_CTX)).perms, {
      roster: 'none',
      message: 'none',
      presence: 'none',
      iq: [
        { namespace: 'urn:xmpp:mam:2', type: 'both' },
        { namespace: 'http://jabber.org/protocol/pubsub', type: 'set' },
      ],
    });
  });

  it("reads Prosody's advertisement: only the permissions that are set", () => {
    assert.deepEqual(value(adv(PROSODY_ADVERTISEMENT)), {
      version: PRIVILEGE_NS_2,
      perms: { roster: 'get', message: 'outgoing', presence: 'roster', iq: [] },
    });
    assert.deepEqual(value(adv(PROSODY_IQ_ADVERTISEMENT)).perms.iq, [
      { namespace: 'http://jabber.org/protocol/pubsub', type: 'set' },
      { namespace: 'urn:x:nothing', type: 'none' },
    ]);
  });

  it("reads ejabberd's v1 advertisement: every permission listed, none included", () => {
    assert.deepEqual(value(adv(EJABBERD_ADVERTISEMENT)), {
      version: PRIVILEGE_NS_1,
      perms: { roster: 'none', message: 'outgoing', presence: 'none', iq: [] },
    });
  });

  it('an empty <privilege/> (a configured entity without permissions) grants nothing', () => {
    const r = value(adv(`<message from='localhost' to='pubsub.localhost'><privilege xmlns='urn:xmpp:privilege:2'/></message>`));
    assert.deepEqual(r.perms, NO_PRIVILEGES);
  });

  it('the iq permission does not exist in v1 and is ignored there, as are unknown accesses', () => {
    const v1 = value(adv(`<message from='localhost'><privilege xmlns='urn:xmpp:privilege:1'><perm access='iq'><namespace ns='urn:x' type='both'/></perm><perm access='future' type='x'/></privilege></message>`));
    assert.deepEqual(v1.perms, NO_PRIVILEGES);
  });

  it('accepts the server domain in any case and a missing `to`', () => {
    assert.equal(value(adv(`<message from='LocalHost'><privilege xmlns='urn:xmpp:privilege:2'><perm access='message' type='outgoing'/></privilege></message>`)).perms.message, 'outgoing');
  });

  it('refuses any sender but the server domain exactly', () => {
    const body = `<privilege xmlns='urn:xmpp:privilege:2'><perm access='message' type='outgoing'/></privilege>`;
    for (const from of ['alice@localhost', 'localhost/res', 'evil.example', 'pubsub.localhost', 'sub.localhost']) {
      failure(adv(`<message from='${from}' to='pubsub.localhost'>${body}</message>`), /is not the server domain/, 'forbidden');
    }
    failure(adv(`<message to='pubsub.localhost'>${body}</message>`), /no from/, 'forbidden');
    failure(adv(`<message from='localhost' to='other.localhost'>${body}</message>`), /is not the component domain/);
  });

  it('rejects unknown values with a reason naming them', () => {
    const wrap = (perms: string) => `<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'>${perms}</privilege></message>`;
    failure(adv(wrap(`<perm access='roster' type='all'/>`)), /unknown roster permission 'all'.*none, get, set, both/);
    failure(adv(wrap(`<perm access='message' type='incoming'/>`)), /unknown message permission 'incoming'/);
    failure(adv(wrap(`<perm access='presence' type='both'/>`)), /unknown presence permission 'both'/);
    failure(adv(wrap(`<perm access='iq'><namespace ns='urn:x' type='all'/></perm>`)), /unknown iq permission 'all' for 'urn:x'/);
    failure(adv(wrap(`<perm access='roster'/>`)), /has no type/);
    failure(adv(wrap(`<perm type='get'/>`)), /without an access/);
    failure(adv(wrap(`<perm access='iq'><namespace type='get'/></perm>`)), /without ns/);
    failure(adv(wrap(`<perm access='message' type='outgoing'/><perm access='message' type='none'/>`)), /listed twice/);
    failure(adv(wrap(`<perm access='iq'><namespace ns='urn:x' type='get'/><namespace ns='urn:x' type='set'/></perm>`)), /listed twice/);
  });

  it('rejects other shapes', () => {
    failure(adv(`<message from='localhost'><privilege xmlns='urn:xmpp:privilege:3'/></message>`), /no <privilege\/> child.*found <privilege xmlns='urn:xmpp:privilege:3'\/>/);
    failure(adv(`<message from='localhost'><privilege xmlns='urn:xmpp:privilege:2'/><privilege xmlns='urn:xmpp:privilege:1'/></message>`), /2 <privilege\/> children/);
    failure(adv(`<message from='localhost' type='error'><privilege xmlns='urn:xmpp:privilege:2'/></message>`), /type 'error'/);
    failure(parsePrivilegeAdvertisement(parseXml(`<iq from='localhost'/>`), LOCAL_CTX), /not a <message\/>/);
  });

  it('privilegeVersionOf tells advertisements from other messages', () => {
    assert.equal(privilegeVersionOf(parseXml(PROSODY_ADVERTISEMENT)), PRIVILEGE_NS_2);
    assert.equal(privilegeVersionOf(parseXml(EJABBERD_ADVERTISEMENT)), PRIVILEGE_NS_1);
    assert.equal(privilegeVersionOf(parseXml(`<message><body>hi</body></message>`)), null);
  });
});

const check = (text: string, serverDomain = 'localhost') => checkPrivilegedOutbound(parseXml(text), { serverDomain });

describe('checkPrivilegedOutbound (XEP-0356 §4)', () => {
  it('accepts the XEP notification and normalizes it', () => {
    const out = value(check(XEP_NOTIFICATION_INNER, 'capulet.lit'));
    assert.equal(out.attrs.xmlns, 'jabber:client');
    assert.equal(out.attrs.from, 'juliet@capulet.lit');
    assert.equal(out.attrs.to, 'romeo@montague.lit/orchard');
    assert.ok(out.children.every(isElementNode), 'no text directly in the message');
    // the payload is kept as received, indentation included
    assert.match(out.getChild('event')!.toString(), /<artist>Gerald Finzi<\/artist>/);
  });

  it('writes xmlns when absent and normalizes the bare from', () => {
    const out = value(check(`<message from='Alice@LocalHost' to='bob@localhost/phone' type='headline'><body>x</body></message>`));
    assert.equal(out.toString(), `<message xmlns="jabber:client" from="alice@localhost" to="bob@localhost/phone" type="headline"><body>x</body></message>`);
  });

  it('keeps MAM results: forwarded messages inside the payload are data', () => {
    const mam =
      `<message from='alice@localhost' to='alice@localhost/phone'><result xmlns='urn:xmpp:mam:2' queryid='q1' id='1'>` +
      `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>` +
      `<message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost'><body>old</body></message>` +
      `</forwarded></result></message>`;
    value(check(mam));
  });

  it('refuses a full JID from (not-allowed)', () => {
    failure(check(`<message from='alice@localhost/res' to='bob@localhost'/>`), /full JID/, 'not-allowed');
  });

  it('refuses other domains, the domain itself, a missing from (forbidden)', () => {
    failure(check(`<message from='mallory@elsewhere' to='bob@localhost'/>`), /not on the served domain/, 'forbidden');
    failure(check(`<message from='mallory@elsewhere/x' to='bob@localhost'/>`), /not on the served domain/, 'forbidden');
    failure(check(`<message from='alice@pubsub.localhost' to='bob@localhost'/>`), /not on the served domain/, 'forbidden');
    failure(check(`<message from='alice@sub.localhost' to='bob@localhost'/>`), /not on the served domain/, 'forbidden');
    failure(check(`<message from='localhost' to='bob@localhost'/>`), /server domain itself/, 'forbidden');
    failure(check(`<message from='localhost/res' to='bob@localhost'/>`), /server domain itself/, 'forbidden');
    failure(check(`<message to='bob@localhost'/>`), /no from/, 'forbidden');
    failure(check(`<message from='' to='bob@localhost'/>`), /no from/, 'forbidden');
    failure(check(`<message from='a b@localhost' to='bob@localhost'/>`), /not a valid JID/, 'jid-malformed');
  });

  it('refuses a missing or invalid to', () => {
    failure(check(`<message from='alice@localhost'/>`), /no to/);
    failure(check(`<message from='alice@localhost' to='bob@@localhost'/>`), /not a valid JID/, 'jid-malformed');
  });

  it('refuses anything but a jabber:client message', () => {
    failure(check(`<iq from='alice@localhost' to='bob@localhost' type='set' id='x'><query xmlns='jabber:iq:roster'/></iq>`), /not a <message\/>/);
    failure(check(`<presence from='alice@localhost' to='bob@localhost'/>`), /not a <message\/>/);
    failure(check(`<message xmlns='jabber:component:accept' from='alice@localhost' to='bob@localhost'/>`), /namespace 'jabber:component:accept'/);
    failure(check(`<c:message xmlns:c='jabber:client' from='alice@localhost' to='bob@localhost'/>`), /prefixed/);
    failure(check(`<message from='alice@localhost' to='bob@localhost' type='bogus'/>`), /unknown message type/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'>loose text<body>x</body></message>`), /text outside/);
  });

  it('refuses smuggled stanzas and wrappers', () => {
    failure(check(`<message from='alice@localhost' to='bob@localhost'><iq type='set' id='x' to='localhost'><query xmlns='jabber:iq:roster'/></iq></message>`), /<iq\/> stanza inside/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'><iq xmlns='jabber:client' type='get' id='x'/></message>`), /<iq\/> stanza inside/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'><presence type='unavailable'/></message>`), /<presence\/> stanza inside/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'><message from='localhost' to='bob@localhost'/></message>`), /<message\/> stanza inside/);
    failure(
      check(`<message from='alice@localhost' to='bob@localhost'><x xmlns='urn:x'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='localhost' to='bob@localhost'/></forwarded></privilege></x></message>`),
      /nested <privilege xmlns='urn:xmpp:privilege:2'\/> wrapper/,
    );
    failure(check(`<message from='alice@localhost' to='bob@localhost'><delegation xmlns='urn:xmpp:delegation:1'/></message>`), /nested <delegation/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'><x xmlns='urn:x'><iq xmlns='jabber:component:accept' type='set'/></x></message>`), /stream namespace 'jabber:component:accept'/);
    failure(check(`<message xmlns:s='http://etherx.jabber.org/streams' from='alice@localhost' to='bob@localhost'/>`), /stream namespace/);
    failure(check(`<message from='alice@localhost' to='bob@localhost'><s:error xmlns:s='jabber:server'/></message>`), /stream namespace 'jabber:server'/);
  });

  it('text and attribute values cannot break out of the message (ltx escapes on output)', () => {
    const inner = xml('message', { from: 'alice@localhost', to: "bob@localhost' evil='1" }, xml('body', {}, `</message><iq type='set'/>`));
    const r = checkPrivilegedOutbound(inner, { serverDomain: 'localhost' });
    assert.ok(!r.ok, 'a to with quotes is not a JID');
    const ok = value(checkPrivilegedOutbound(xml('message', { from: 'alice@localhost', to: 'bob@localhost' }, xml('body', {}, `</message><iq type='set'/>`)), { serverDomain: 'localhost' }));
    const round = parseXml(buildPrivilegedMessage(PRIVILEGE_NS_2, LOCAL_CTX, ok).toString());
    const msg = round.getChild('privilege')!.getChild('forwarded')!.getChild('message')!;
    assert.equal(msg.getChildText('body'), `</message><iq type='set'/>`);
    assert.equal(msg.getChildElements().length, 1);
  });
});

describe('buildPrivilegedMessage (XEP-0356 §4)', () => {
  const inner = (): Element => value(check(`<message from='juliet@capulet.lit' to='romeo@montague.lit/orchard'><body>hi</body></message>`, 'capulet.lit'));

  it('wraps in the version given, exactly, without text nodes', () => {
    for (const version of [PRIVILEGE_NS_2, PRIVILEGE_NS_1] as const) {
      const el = buildPrivilegedMessage(version, XEP_CTX, inner());
      assert.equal(
        el.toString(),
        `<message from="pubsub.capulet.lit" to="capulet.lit"><privilege xmlns="${version}"><forwarded xmlns="urn:xmpp:forward:0">` +
          `<message xmlns="jabber:client" from="juliet@capulet.lit" to="romeo@montague.lit/orchard"><body>hi</body></message>` +
          `</forwarded></privilege></message>`,
      );
    }
  });

  it('carries an outer id when asked (the server echoes it in its error reply)', () => {
    const el = buildPrivilegedMessage(PRIVILEGE_NS_2, { ...XEP_CTX, id: 'notif1' }, inner());
    assert.equal(el.attrs.id, 'notif1');
  });

  it('drops whitespace between the message children of the XEP example, keeps the payload', () => {
    const el = buildPrivilegedMessage(PRIVILEGE_NS_2, XEP_CTX, value(check(XEP_NOTIFICATION_INNER, 'capulet.lit')));
    let level: Element | undefined = el;
    for (let depth = 0; depth < 4 && level; depth++) {
      assert.ok(level.children.every(isElementNode), `level ${depth} <${level.name}> has a text child`);
      assert.equal(level.children.length, 1, `level ${depth} <${level.name}> has one child`);
      level = level.children[0] as Element;
    }
    // round trip through our strict parser: the same wrapper comes back
    assert.equal(parseXml(el.toString()).toString(), el.toString());
  });

  it('refuses an unknown version', () => {
    assert.throws(() => buildPrivilegedMessage('urn:xmpp:privilege:3' as typeof PRIVILEGE_NS_2, XEP_CTX, inner()), TypeError);
  });
});

describe('privileged messages (properties)', () => {
  const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
  const part = fc.oneof(fc.constantFrom('alice', 'Bob', 'localhost', 'LOCALHOST', 'pubsub.localhost', 'evil.example', '', 'a/b', 'x@y'), fc.string({ maxLength: 8 }));
  const jidish = fc.tuple(fc.option(part), part, fc.option(part)).map(([l, d, r]) => `${l === null ? '' : `${l}@`}${d}${r === null ? '' : `/${r}`}`);
  const child = fc.oneof(
    fc.constant(xml('body', {}, 'hi')),
    fc.constant(xml('iq', { type: 'set', id: 'x' })),
    fc.constant(xml('presence', {})),
    fc.constant(xml('privilege', { xmlns: PRIVILEGE_NS_2 })),
    fc.constant(xml('event', { xmlns: 'http://jabber.org/protocol/pubsub#event' }, xml('items', { node: 'n' }))),
    fc.constant(xml('x', { 'xmlns:s': 'jabber:server' })),
    fc.constantFrom(' ', '\n  '),
    fc.string({ maxLength: 4 }),
  );
  const stanza = fc.record({
    name: fc.constantFrom('message', 'message', 'message', 'message', 'iq', 'presence', 'c:message'),
    from: fc.option(fc.oneof({ arbitrary: fc.constantFrom('alice@localhost', 'Alice@LocalHost.', 'alice@localhost/res', 'mallory@evil.example', 'localhost'), weight: 3 }, { arbitrary: jidish, weight: 1 }), { freq: 10 }),
    to: fc.option(fc.oneof({ arbitrary: fc.constantFrom('bob@localhost/phone', 'romeo@montague.lit', 'localhost'), weight: 3 }, { arbitrary: jidish, weight: 1 }), { freq: 10 }),
    type: fc.option(fc.constantFrom('chat', 'headline', 'normal', 'bogus', 'error'), { freq: 3 }),
    children: fc.array(child, { maxLength: 2 }),
  });

  it('never throws; whatever it accepts is a jabber:client message from a bare user JID of the domain, to a JID', () => {
    let accepted = 0;
    fc.assert(
      fc.property(stanza, (s) => {
        const attrs: Record<string, string> = {};
        if (s.name === 'c:message') attrs['xmlns:c'] = 'jabber:client';
        if (s.from !== null) attrs.from = s.from;
        if (s.to !== null) attrs.to = s.to;
        if (s.type !== null) attrs.type = s.type;
        const el = xml(s.name, attrs);
        for (const c of s.children) {
          if (typeof c === 'string') el.children.push(c);
          else el.cnode(xml(c.name, { ...c.attrs }, ...c.getChildElements()));
        }
        const r = checkPrivilegedOutbound(el, { serverDomain: 'localhost' });
        if (!r.ok) return;
        accepted++;
        const out = r.value;
        assert.equal(out.name, 'message');
        assert.equal(out.attrs.xmlns, 'jabber:client');
        const from = parseJid(out.attrs.from!);
        assert.ok(from && from.local !== undefined && from.resource === undefined && from.domain === 'localhost', out.attrs.from);
        assert.ok(parseJid(out.attrs.to!));
        assert.ok(out.children.every(isElementNode));
        assert.ok(!out.getChildElements().some((c) => ['iq', 'presence', 'message', 'privilege'].includes(c.name)));
        const wrapped = buildPrivilegedMessage(PRIVILEGE_NS_1, LOCAL_CTX, out).toString();
        assert.equal(parseXml(wrapped).toString(), wrapped);
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted > 0, `the generator produced acceptable stanzas (${accepted} of ${RUNS})`);
  });
});
