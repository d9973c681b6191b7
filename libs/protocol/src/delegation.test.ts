import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import {
  DELEGATION_NS_1,
  DELEGATION_NS_2,
  buildErrorReplyWrapper,
  buildInnerReply,
  checkWorkerReply,
  delegationVersionOf,
  parseForwardedIq,
  parseGrantAdvertisement,
  parseOuterIdentity,
  salvageInner,
  wrapBrokenRequestError,
  wrapReply,
} from './delegation';
import type { ForwardedRequest } from './delegation';
import type { Result } from './result';
import { StanzaError } from './stanza-error';
import {
  CTX,
  EJABBERD_ADVERTISEMENT,
  EJABBERD_FORWARDED,
  LOCAL_CTX,
  PAYLOAD,
  PROSODY_ADVERTISEMENT,
  PROSODY_NO_TO,
  XEP_ADVERTISEMENT_V2,
  XEP_FORWARDED_V1,
  XEP_FORWARDED_V2,
  XEP_REPLY_V2,
  assertNoWhitespaceInWrapper,
  forwarded,
  innerIq,
} from './test-fixtures';
import { parseXml } from './xml-parse';

function value<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(`expected ok, got: ${r.reason} (${r.condition})`);
  return r.value;
}

function request(text: string, ctx = CTX): ForwardedRequest {
  return value(parseForwardedIq(parseXml(text), ctx));
}

describe('parseGrantAdvertisement (XEP-0355 §4.1)', () => {
  it('reads the XEP example (v2), filtering attribute included', () => {
    assert.deepEqual(value(parseGrantAdvertisement(parseXml(XEP_ADVERTISEMENT_V2), CTX)), {
      version: DELEGATION_NS_2,
      grants: [
        { namespace: 'urn:xmpp:mam:2', attributes: ['node'], kind: 'namespace' },
        { namespace: 'http://jabber.org/protocol/pubsub', attributes: [], kind: 'namespace' },
      ],
    });
  });

  it('reads the same advertisement in v1', () => {
    const adv = value(parseGrantAdvertisement(parseXml(XEP_ADVERTISEMENT_V2.replace(DELEGATION_NS_2, DELEGATION_NS_1)), CTX));
    assert.equal(adv.version, DELEGATION_NS_1);
    assert.equal(adv.grants.length, 2);
  });

  it("maps Prosody's disco pseudo-namespaces to their kinds", () => {
    const adv = value(parseGrantAdvertisement(parseXml(PROSODY_ADVERTISEMENT), LOCAL_CTX));
    assert.deepEqual(
      adv.grants.map((g) => [g.namespace, g.kind, g.attributes]),
      [
        ['http://jabber.org/protocol/pubsub', 'namespace', []],
        ['http://jabber.org/protocol/pubsub#owner', 'namespace', []],
        ['urn:xmpp:mam:2', 'namespace', ['node']],
        ['urn:xmpp:delegation:2:bare:disco#info:*', 'bare-disco-info', []],
        ['urn:xmpp:delegation:2:bare:disco#items:*', 'bare-disco-items', []],
      ],
    );
  });

  it("merges ejabberd's duplicates (v1, no attributes)", () => {
    assert.deepEqual(value(parseGrantAdvertisement(parseXml(EJABBERD_ADVERTISEMENT), LOCAL_CTX)), {
      version: DELEGATION_NS_1,
      grants: [
        { namespace: 'http://jabber.org/protocol/pubsub', attributes: [], kind: 'namespace' },
        { namespace: 'urn:xmpp:mam:2', attributes: [], kind: 'namespace' },
      ],
    });
  });

  it('merges duplicates with different filters into the intersection of their attributes', () => {
    const adv = value(
      parseGrantAdvertisement(
        parseXml(
          `<message from='capulet.lit'><delegation xmlns='urn:xmpp:delegation:2'>` +
            `<delegated namespace='urn:xmpp:mam:2'><attribute name='node'/><attribute name='with'/><attribute name='node'/></delegated>` +
            `<delegated namespace='urn:xmpp:mam:2'><attribute name='node'/></delegated>` +
            `</delegation></message>`,
        ),
        CTX,
      ),
    );
    assert.deepEqual(adv.grants, [{ namespace: 'urn:xmpp:mam:2', attributes: ['node'], kind: 'namespace' }]);
  });

  it('accepts a missing to, the server domain in another case, and an empty delegation', () => {
    const adv = value(parseGrantAdvertisement(parseXml(`<message from='Capulet.LIT'><delegation xmlns='urn:xmpp:delegation:2'/></message>`), CTX));
    assert.deepEqual(adv.grants, []);
  });
});

describe('delegationVersionOf', () => {
  it('tells delegation traffic from the rest, by version', () => {
    assert.equal(delegationVersionOf(parseXml(XEP_FORWARDED_V2)), DELEGATION_NS_2);
    assert.equal(delegationVersionOf(parseXml(EJABBERD_ADVERTISEMENT)), DELEGATION_NS_1);
    assert.equal(delegationVersionOf(parseXml(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)), null);
    assert.equal(delegationVersionOf(parseXml(forwarded(undefined, { ns: 'urn:xmpp:delegation:3' }))), null);
  });
});

describe('parseForwardedIq (XEP-0355 §4.3)', () => {
  it('reads the XEP example (v2), indentation and all', () => {
    const req = request(XEP_FORWARDED_V2);
    assert.equal(req.version, DELEGATION_NS_2);
    assert.equal(req.outerId, 'delegate1');
    assert.equal(req.outerFrom, 'capulet.lit');
    assert.equal(req.outerTo, 'pubsub.capulet.lit');
    assert.equal(req.innerId, 'pep1');
    assert.equal(req.innerType, 'set');
    assert.equal(req.from, 'juliet@capulet.lit/balcony');
    assert.equal(req.to, 'juliet@capulet.lit');
    assert.equal(req.toWasMissing, false);
    assert.equal(req.requesterBare, 'juliet@capulet.lit');
    assert.equal(req.targetBare, 'juliet@capulet.lit');
    assert.equal(req.payloadNs, 'http://jabber.org/protocol/pubsub');
    assert.equal(req.payload.getChild('publish')?.attrs.node, 'http://jabber.org/protocol/mood');
    // The inner copy carries the payload only, xmlns first; the payload keeps its own text.
    assert.equal(req.inner.attrs.xmlns, 'jabber:client');
    assert.equal(req.inner.children.length, 1);
    assert.equal(req.inner.getChild('pubsub')?.getChild('publish')?.getChild('item')?.getChild('mood')?.getChildText('text'), 'curse my nurse!');
  });

  it('reads the v1 form and reports its version', () => {
    assert.equal(request(XEP_FORWARDED_V1).version, DELEGATION_NS_1);
  });

  it("fills in Prosody's missing inner to with the requester's bare JID", () => {
    const req = request(PROSODY_NO_TO, LOCAL_CTX);
    assert.equal(req.to, 'alice@localhost');
    assert.equal(req.toWasMissing, true);
    assert.equal(req.targetBare, 'alice@localhost');
    assert.equal(
      req.inner.toString(),
      `<iq xmlns="jabber:client" from="alice@localhost/phone" id="items1" type="get" to="alice@localhost">` +
        `<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="urn:xmpp:microblog:0"/></pubsub></iq>`,
    );
  });

  it("reads ejabberd's v1 request with the component stream namespace on the outer iq", () => {
    const req = request(EJABBERD_FORWARDED, LOCAL_CTX);
    assert.equal(req.version, DELEGATION_NS_1);
    assert.equal(req.to, 'user1@localhost');
    assert.equal(req.inner.attrs['xml:lang'], 'en');
  });

  it('reads an outer iq whose namespace comes from the stream root, as xmpp.js delivers it', () => {
    const stream = xml('stream:stream', { xmlns: 'jabber:component:accept', 'xmlns:stream': 'http://etherx.jabber.org/streams' });
    const outer = parseXml(XEP_FORWARDED_V2);
    stream.cnode(outer);
    assert.equal(value(parseForwardedIq(outer, CTX)).innerId, 'pep1');
  });

  it('accepts requests to the server domain and from remote users', () => {
    const toDomain = request(forwarded(innerIq(`from='juliet@capulet.lit/balcony' to='capulet.lit' id='d1' type='get'`, `<query xmlns='http://jabber.org/protocol/disco#items'/>`)));
    assert.equal(toDomain.targetBare, 'capulet.lit');
    assert.equal(toDomain.payloadNs, 'http://jabber.org/protocol/disco#items');
    const remote = request(forwarded(innerIq(`from='romeo@montague.lit/orchard' to='juliet@capulet.lit' id='r1' type='get'`)));
    assert.equal(remote.requesterBare, 'romeo@montague.lit');
  });

  it('normalizes odd but valid addresses for access control and keeps them as sent for the reply', () => {
    const req = request(forwarded(innerIq(`from='Juliet@Capulet.lit/Balcony &amp; Co' to='JULIET@capulet.lit' id='x' type='get'`)));
    assert.equal(req.from, 'Juliet@Capulet.lit/Balcony & Co');
    assert.equal(req.to, 'JULIET@capulet.lit');
    assert.equal(req.requesterBare, 'juliet@capulet.lit');
    assert.equal(req.targetBare, 'juliet@capulet.lit');
  });

  it('ignores whitespace everywhere in the envelope, CRLF and tabs included, and a XEP-0297 <delay/>', () => {
    const text =
      `<iq from='capulet.lit' to='pubsub.capulet.lit' id='w1' type='set'>\r\n\t<delegation xmlns='urn:xmpp:delegation:2'>\r\n\t\t` +
      `<forwarded xmlns='urn:xmpp:forward:0'>\n<delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/>\n` +
      `<iq from='juliet@capulet.lit/balcony' id='p' type='get'>\n   ${PAYLOAD}\n   </iq>\n</forwarded>  </delegation>\n</iq>`;
    const req = request(text);
    assert.equal(req.inner.children.length, 1);
    assert.equal(req.inner.attrs.xmlns, 'jabber:client');
    assert.equal(req.inner.toString().includes('\n'), false);
  });

  it('keeps namespace prefixes the envelope declared for the payload', () => {
    const req = request(
      `<iq from='capulet.lit' to='pubsub.capulet.lit' id='p1' type='set' xmlns:ps='http://jabber.org/protocol/pubsub'>` +
        `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
        `<iq from='juliet@capulet.lit/b' id='i' type='get'><ps:pubsub><ps:items node='n'/></ps:pubsub></iq>` +
        `</forwarded></delegation></iq>`,
    );
    assert.equal(req.payloadNs, 'http://jabber.org/protocol/pubsub');
    const reparsed = parseXml(req.inner.toString());
    assert.equal(reparsed.getChildElements()[0]?.getNS(), 'http://jabber.org/protocol/pubsub');
  });
});

describe('replies (XEP-0355 §4.3, protocol-notes §1.4)', () => {
  it('wraps an empty result exactly as the XEP example, without whitespace', () => {
    const req = request(XEP_FORWARDED_V2);
    const reply = wrapReply(req, buildInnerReply(req, 'result'));
    assert.equal(reply.toString(), XEP_REPLY_V2);
    assertNoWhitespaceInWrapper(reply);
  });

  it('answers in the version received', () => {
    const req = request(XEP_FORWARDED_V1);
    assert.equal(wrapReply(req, buildInnerReply(req, 'result')).toString(), XEP_REPLY_V2.replace(DELEGATION_NS_2, DELEGATION_NS_1));
  });

  it("addresses Prosody's to-less request from the requester's bare JID", () => {
    const req = request(PROSODY_NO_TO, LOCAL_CTX);
    const payload = xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('items', { node: 'urn:xmpp:microblog:0' }));
    assert.equal(
      wrapReply(req, buildInnerReply(req, 'result', payload)).toString(),
      `<iq type="result" id="lx9Zq" from="pubsub.localhost" to="localhost"><delegation xmlns="urn:xmpp:delegation:2">` +
        `<forwarded xmlns="urn:xmpp:forward:0"><iq xmlns="jabber:client" type="result" id="items1" from="alice@localhost" to="alice@localhost/phone">` +
        `<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="urn:xmpp:microblog:0"/></pubsub></iq></forwarded></delegation></iq>`,
    );
  });

  it('wraps an inner error in an outer result, keeping only <error/>', () => {
    const req = request(EJABBERD_FORWARDED, LOCAL_CTX);
    const reply = buildErrorReplyWrapper(req, new StanzaError('item-not-found'));
    assert.equal(
      reply.toString(),
      `<iq type="result" id="rr-1700000000-1" from="pubsub.localhost" to="localhost"><delegation xmlns="urn:xmpp:delegation:1">` +
        `<forwarded xmlns="urn:xmpp:forward:0"><iq xmlns="jabber:client" type="error" id="pub1" from="user1@localhost" to="user1@localhost/tkabber">` +
        `<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq></forwarded></delegation></iq>`,
    );
  });

  it('echoes the outer addresses exactly as the server wrote them', () => {
    const req = request(XEP_FORWARDED_V2.replace("from='capulet.lit'", "from='Capulet.lit'"));
    const reply = wrapReply(req, buildInnerReply(req, 'result'));
    assert.equal(reply.attrs.to, 'Capulet.lit');
  });

  it('removes whitespace a caller left in the inner reply', () => {
    const req = request(XEP_FORWARDED_V2);
    const reply = wrapReply(req, parseXml(`<iq type='result' id='pep1' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'>\n  <x xmlns='urn:x'> keep </x>\n</iq>`));
    assertNoWhitespaceInWrapper(reply);
    assert.match(reply.toString(), /<x xmlns="urn:x"> keep <\/x>/);
  });

  it('a result cannot carry a StanzaError', () => {
    const req = request(XEP_FORWARDED_V2);
    const call = buildInnerReply as (r: ForwardedRequest, t: string, p: unknown) => Element;
    assert.throws(() => call(req, 'result', new StanzaError('bad-request')), TypeError);
  });
});

describe('checkWorkerReply', () => {
  const req = request(XEP_FORWARDED_V2);

  it('accepts what buildInnerReply produces', () => {
    assert.ok(checkWorkerReply(req, buildInnerReply(req, 'result')).ok);
    assert.ok(checkWorkerReply(req, buildInnerReply(req, 'result', xml('pubsub', { xmlns: 'x' }))).ok);
    assert.ok(checkWorkerReply(req, buildInnerReply(req, 'error', new StanzaError('forbidden'))).ok);
  });

  it('writes xmlns and drops whitespace', () => {
    const checked = value(
      checkWorkerReply(req, parseXml(`<iq type='result' id='pep1' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'>\n <pubsub xmlns='x'/>\n</iq>`)),
    );
    assert.equal(checked.toString(), `<iq xmlns="jabber:client" type="result" id="pep1" from="juliet@capulet.lit" to="juliet@capulet.lit/balcony"><pubsub xmlns="x"/></iq>`);
  });

  it('drops an echoed request payload beside <error/>', () => {
    const checked = value(
      checkWorkerReply(
        req,
        parseXml(
          `<iq type='error' id='pep1' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'>${PAYLOAD}` +
            `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
        ),
      ),
    );
    assert.deepEqual(checked.getChildElements().map((c) => c.name), ['error']);
  });
});

describe('answering broken forwarded IQs', () => {
  const broken = parseXml(forwarded(innerIq(undefined, PAYLOAD + PAYLOAD), { ns: DELEGATION_NS_1 }));

  it('parseOuterIdentity reads id and sender of any request', () => {
    assert.deepEqual(parseOuterIdentity(broken), { id: 'fwd1', from: 'capulet.lit', type: 'set' });
    assert.equal(parseOuterIdentity(parseXml(`<iq type='result' id='a' from='capulet.lit'/>`)), null);
    assert.equal(parseOuterIdentity(parseXml(`<iq type='set' from='capulet.lit'/>`)), null);
    assert.equal(parseOuterIdentity(parseXml(`<message id='a' from='capulet.lit'/>`)), null);
  });

  it('salvageInner reads the inner id and addresses', () => {
    assert.deepEqual(salvageInner(broken), { version: DELEGATION_NS_1, id: 'pep1', from: 'juliet@capulet.lit/balcony', to: 'juliet@capulet.lit' });
    assert.equal(salvageInner(parseXml(forwarded(innerIq(`from='juliet@capulet.lit/b' type='get'`)))), null);
    assert.equal(salvageInner(parseXml(forwarded(innerIq(`from='not a jid' id='a' type='get'`)))), null);
    assert.equal(salvageInner(parseXml(forwarded(innerIq(`from='juliet@capulet.lit/b' id='a' type='result'`)))), null);
  });

  it('wraps an inner error for the requester in the version found', () => {
    assert.equal(parseForwardedIq(broken, CTX).ok, false);
    const reply = wrapBrokenRequestError(broken, undefined, new StanzaError('bad-request', { text: 'two payloads' }), CTX);
    assert.equal(
      reply?.toString(),
      `<iq type="result" id="fwd1" from="pubsub.capulet.lit" to="capulet.lit"><delegation xmlns="urn:xmpp:delegation:1">` +
        `<forwarded xmlns="urn:xmpp:forward:0"><iq xmlns="jabber:client" type="error" id="pep1" from="juliet@capulet.lit" to="juliet@capulet.lit/balcony">` +
        `<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">two payloads</text></error>` +
        `</iq></forwarded></delegation></iq>`,
    );
  });

  it('echoes a full-JID inner to, since servers compare the reply from with it', () => {
    const fullTo = parseXml(forwarded(innerIq(`from='juliet@capulet.lit/balcony' to='romeo@capulet.lit/garden' id='q' type='get'`)));
    const result = parseForwardedIq(fullTo, CTX);
    assert.equal(result.ok, false);
    const reply = wrapBrokenRequestError(fullTo, undefined, new StanzaError('bad-request'), CTX);
    assert.equal(reply?.getChild('delegation')?.getChild('forwarded')?.getChild('iq')?.attrs.from, 'romeo@capulet.lit/garden');
  });

  it('gives null when the sender is not the server or the inner iq is unreadable', () => {
    const fromUser = parseXml(forwarded(innerIq(), { outer: `from='juliet@capulet.lit/x' to='pubsub.capulet.lit' id='a' type='set'` }));
    assert.equal(wrapBrokenRequestError(fromUser, undefined, new StanzaError('forbidden'), CTX), null);
    const noInnerId = parseXml(forwarded(innerIq(`from='juliet@capulet.lit/b' type='get'`)));
    assert.equal(wrapBrokenRequestError(noInnerId, undefined, new StanzaError('bad-request'), CTX), null);
  });
});
