// Malformed and hostile stanzas: each must be rejected with a precise reason and condition, and
// nothing valid-but-ugly may be rejected.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import { checkWorkerReply, parseForwardedIq, parseGrantAdvertisement } from './delegation';
import type { ForwardedRequest } from './delegation';
import type { StanzaErrorCondition } from './stanza-error';
import { CTX, INNER_ATTRS, OUTER_ATTRS, PAYLOAD, XEP_FORWARDED_V2, forwarded, innerIq } from './test-fixtures';
import { parseXml } from './xml-parse';

const D2 = 'urn:xmpp:delegation:2';
const FWD = `<forwarded xmlns='urn:xmpp:forward:0'>`;
const outer = (attrs: string) => ({ outer: attrs });
const inner = (attrs: string, payload = PAYLOAD) => innerIq(attrs, payload);
const INNER_NO_TO = `xmlns='jabber:client' from='juliet@capulet.lit/balcony' id='pep1' type='set'`;

type Case = [name: string, stanza: string, reason: string, condition: StanzaErrorCondition];

const forwardedCorpus: Case[] = [
  // Who sent the outer IQ
  ['outer from another domain', forwarded(undefined, outer(`from='montague.lit' to='pubsub.capulet.lit' id='f' type='set'`)), "outer iq from 'montague.lit' is not the server domain 'capulet.lit'", 'forbidden'],
  ['outer from a user JID', forwarded(undefined, outer(`from='juliet@capulet.lit/balcony' to='pubsub.capulet.lit' id='f' type='set'`)), "outer iq from 'juliet@capulet.lit/balcony' is not the server domain", 'forbidden'],
  ['outer from the server with a resource', forwarded(undefined, outer(`from='capulet.lit/admin' to='pubsub.capulet.lit' id='f' type='set'`)), "outer iq from 'capulet.lit/admin' is not the server domain", 'forbidden'],
  ['outer from the component itself', forwarded(undefined, outer(`from='pubsub.capulet.lit' to='pubsub.capulet.lit' id='f' type='set'`)), "outer iq from 'pubsub.capulet.lit' is not the server domain", 'forbidden'],
  ['outer without from', forwarded(undefined, outer(`to='pubsub.capulet.lit' id='f' type='set'`)), 'outer iq has no from', 'forbidden'],
  ['outer to another component', forwarded(undefined, outer(`from='capulet.lit' to='muc.capulet.lit' id='f' type='set'`)), "outer iq to 'muc.capulet.lit' is not the component domain", 'bad-request'],
  ['outer without to', forwarded(undefined, outer(`from='capulet.lit' id='f' type='set'`)), 'outer iq has no to', 'bad-request'],
  // Outer type and id
  ['outer type get', forwarded(undefined, outer(`from='capulet.lit' to='pubsub.capulet.lit' id='f' type='get'`)), "outer iq type is 'get', expected 'set'", 'bad-request'],
  ['outer type result', forwarded(undefined, outer(`from='capulet.lit' to='pubsub.capulet.lit' id='f' type='result'`)), "outer iq type is 'result', expected 'set'", 'bad-request'],
  ['outer without type', forwarded(undefined, outer(`from='capulet.lit' to='pubsub.capulet.lit' id='f'`)), 'outer iq type is missing', 'bad-request'],
  ['outer without id', forwarded(undefined, outer(`from='capulet.lit' to='pubsub.capulet.lit' type='set'`)), 'outer iq has no id', 'bad-request'],
  ['outer with an empty id', forwarded(undefined, outer(`from='capulet.lit' to='pubsub.capulet.lit' id='' type='set'`)), 'outer iq has no id', 'bad-request'],
  ['a message, not an iq', `<message from='capulet.lit' to='pubsub.capulet.lit'/>`, 'not an <iq/> (got <message/>)', 'bad-request'],
  // The <delegation/> level
  ['no child at all', `<iq ${OUTER_ATTRS}/>`, `outer iq has no <delegation/> in urn:xmpp:delegation:1 or urn:xmpp:delegation:2 child`, 'bad-request'],
  ['two delegation children', `<iq ${OUTER_ATTRS}><delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation><delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation></iq>`, 'outer iq has 2 <delegation/>', 'bad-request'],
  ['a v1 and a v2 delegation', `<iq ${OUTER_ATTRS}><delegation xmlns='urn:xmpp:delegation:1'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation><delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation></iq>`, 'outer iq has 2 <delegation/>', 'bad-request'],
  ['delegation:3', forwarded(undefined, { ns: 'urn:xmpp:delegation:3' }), "(found <delegation xmlns='urn:xmpp:delegation:3'/>)", 'bad-request'],
  ['delegation:0', forwarded(undefined, { ns: 'urn:xmpp:delegation:0' }), "(found <delegation xmlns='urn:xmpp:delegation:0'/>)", 'bad-request'],
  ['a foreign element beside delegation', `<iq ${OUTER_ATTRS}><delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation><x xmlns='urn:x'/></iq>`, "outer iq has an unexpected <x xmlns='urn:x'/> beside", 'bad-request'],
  ['text beside delegation', `<iq ${OUTER_ATTRS}>junk<delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation></iq>`, 'outer iq contains text', 'bad-request'],
  ['a prefixed delegation', `<iq ${OUTER_ATTRS}><d:delegation xmlns:d='${D2}'><forwarded xmlns='urn:xmpp:forward:0'>${inner(INNER_ATTRS)}</forwarded></d:delegation></iq>`, 'prefixed <delegation/>', 'bad-request'],
  // The <forwarded/> level
  ['two forwarded', `<iq ${OUTER_ATTRS}><delegation xmlns='${D2}'>${FWD}${inner(INNER_ATTRS)}</forwarded>${FWD}${inner(INNER_ATTRS)}</forwarded></delegation></iq>`, "<delegation/> has 2 <forwarded xmlns='urn:xmpp:forward:0'/> children", 'bad-request'],
  ['forward:1', forwarded(undefined, { fwdNs: 'urn:xmpp:forward:1' }), "<delegation/> has no <forwarded xmlns='urn:xmpp:forward:0'/> child (found <forwarded xmlns='urn:xmpp:forward:1'/>)", 'bad-request'],
  ['forwarded without namespace', `<iq ${OUTER_ATTRS}><delegation xmlns='${D2}'><forwarded>${inner(INNER_ATTRS)}</forwarded></delegation></iq>`, '<delegation/> has no <forwarded', 'bad-request'],
  ['no forwarded: the iq sits in delegation', `<iq ${OUTER_ATTRS}><delegation xmlns='${D2}'>${inner(INNER_ATTRS)}</delegation></iq>`, "<delegation/> has no <forwarded xmlns='urn:xmpp:forward:0'/> child (found <iq xmlns='jabber:client'/>)", 'bad-request'],
  ['nesting in the wrong order', `<iq ${OUTER_ATTRS}>${FWD}<delegation xmlns='${D2}'>${inner(INNER_ATTRS)}</delegation></forwarded></iq>`, "outer iq has no <delegation/> in urn:xmpp:delegation:1 or urn:xmpp:delegation:2 child (found <forwarded xmlns='urn:xmpp:forward:0'/>)", 'bad-request'],
  // The inner <iq/> level
  ['two inner iqs', forwarded(inner(INNER_ATTRS) + inner(INNER_ATTRS)), '<forwarded/> has 2 <iq/> children', 'bad-request'],
  ['a message instead of the inner iq', forwarded(`<message xmlns='jabber:client' from='juliet@capulet.lit/b'/>`), "<forwarded/> has no <iq/> child (found <message xmlns='jabber:client'/>)", 'bad-request'],
  ['an iq and a message', forwarded(inner(INNER_ATTRS) + `<message xmlns='jabber:client'/>`), "<forwarded/> has an unexpected <message xmlns='jabber:client'/>", 'bad-request'],
  ['inner iq in a foreign namespace', forwarded(inner(INNER_ATTRS.replace('jabber:client', 'urn:evil'))), "inner iq namespace 'urn:evil' is not jabber:client", 'bad-request'],
  ['inner without id', forwarded(inner(`from='juliet@capulet.lit/b' to='juliet@capulet.lit' type='set'`)), 'inner iq has no id', 'bad-request'],
  ['inner with an empty id', forwarded(inner(`from='juliet@capulet.lit/b' to='juliet@capulet.lit' id='' type='set'`)), 'inner iq has no id', 'bad-request'],
  ['inner type result', forwarded(inner(INNER_ATTRS.replace("type='set'", "type='result'"))), "inner iq type 'result' is not a request", 'bad-request'],
  ['inner type error', forwarded(inner(INNER_ATTRS.replace("type='set'", "type='error'"))), "inner iq type 'error' is not a request", 'bad-request'],
  ['inner without type', forwarded(inner(`from='juliet@capulet.lit/b' id='i'`)), 'inner iq has no type', 'bad-request'],
  ['inner with an unknown type', forwarded(inner(INNER_ATTRS.replace("type='set'", "type='put'"))), "inner iq type 'put' is invalid", 'bad-request'],
  // Inner addresses
  ['inner to a full JID', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='juliet@capulet.lit/balcony'"))), "inner iq to 'juliet@capulet.lit/balcony' is a full JID", 'bad-request'],
  ['inner to the server with a resource', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='capulet.lit/x'"))), "inner iq to 'capulet.lit/x' is a full JID", 'bad-request'],
  ['inner to a remote bare JID (spoof)', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='romeo@montague.lit'"))), "inner iq to 'romeo@montague.lit' is not on the server domain 'capulet.lit'", 'forbidden'],
  ['inner to the component', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='pubsub.capulet.lit'"))), "inner iq to 'pubsub.capulet.lit' is not on the server domain", 'forbidden'],
  ['inner to an invalid JID', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='a@b@capulet.lit'"))), "inner iq to 'a@b@capulet.lit' is not a valid JID", 'jid-malformed'],
  ['inner without from', forwarded(inner(`to='juliet@capulet.lit' id='i' type='set'`)), 'inner iq has no from', 'bad-request'],
  ['inner with an empty from', forwarded(inner(`from='' to='juliet@capulet.lit' id='i' type='set'`)), 'inner iq has no from', 'bad-request'],
  ['inner from an invalid JID', forwarded(inner(`from='juliet@' to='juliet@capulet.lit' id='i' type='set'`)), "inner iq from 'juliet@' is not a valid JID", 'jid-malformed'],
  ['inner from the component (loop)', forwarded(inner(`from='pubsub.capulet.lit' to='juliet@capulet.lit' id='i' type='set'`)), "inner iq from 'pubsub.capulet.lit' is on the component's own domain", 'not-allowed'],
  ['inner from a JID on the component domain (spoof)', forwarded(inner(`from='admin@Pubsub.Capulet.lit/x' to='juliet@capulet.lit' id='i' type='set'`)), "is on the component's own domain", 'not-allowed'],
  ['no inner to and a remote sender (spoof)', forwarded(inner(`from='romeo@montague.lit/orchard' id='i' type='set'`)), "inner iq has no to and its sender 'romeo@montague.lit/orchard' is not on the server domain", 'forbidden'],
  // Entity-ish and odd characters in JIDs
  ['an escaped & in the localpart', forwarded(inner(`from='jul&amp;iet@capulet.lit/b' to='juliet@capulet.lit' id='i' type='set'`)), "inner iq from 'jul&iet@capulet.lit/b' is not a valid JID", 'jid-malformed'],
  ['an escaped < in the target', forwarded(inner(`from='juliet@capulet.lit/b' to='&lt;script&gt;@capulet.lit' id='i' type='set'`)), "inner iq to '<script>@capulet.lit' is not a valid JID", 'jid-malformed'],
  ['a bidi override in the domain', forwarded(inner(`from='juliet@capulet.lit&#x202E;/b' to='juliet@capulet.lit' id='i' type='set'`)), 'is not a valid JID', 'jid-malformed'],
  ['a tab in the requester (normalized to a space)', forwarded(inner(`from='jul&#9;iet@capulet.lit/b' to='juliet@capulet.lit' id='i' type='set'`)), 'is not a valid JID', 'jid-malformed'],
  ['an escaped control character in the resource', forwarded(inner(`from='juliet@capulet.lit/b&#x85;' to='juliet@capulet.lit' id='i' type='set'`)), "inner iq from 'juliet@capulet.lit/b\u0085' is not a valid JID", 'jid-malformed'],
  // The payload
  ['no payload', forwarded(inner(INNER_ATTRS, '')), 'inner iq has no payload element', 'bad-request'],
  ['only whitespace, no payload', forwarded(inner(INNER_ATTRS, '\n  \n')), 'inner iq has no payload element', 'bad-request'],
  ['two payload children', forwarded(inner(INNER_ATTRS, PAYLOAD + `<query xmlns='urn:xmpp:mam:2'/>`)), 'inner iq has 2 payload elements, expected exactly one', 'bad-request'],
  ['text beside the payload', forwarded(inner(INNER_ATTRS, `hello${PAYLOAD}`)), 'inner iq contains text beside its payload', 'bad-request'],
  ['a payload without namespace', forwarded(inner(INNER_ATTRS, '<pubsub/>')), 'payload <pubsub/> has no namespace', 'bad-request'],
  ['a payload in jabber:client', forwarded(inner(INNER_ATTRS, `<query xmlns='jabber:client'/>`)), "is in the envelope namespace 'jabber:client'", 'bad-request'],
  ['a nested delegation as payload', forwarded(inner(INNER_ATTRS, `<delegation xmlns='${D2}'/>`)), `is in the envelope namespace '${D2}'`, 'bad-request'],
];

function assertRejected(result: { ok: boolean; reason?: string; condition?: string }, reason: string, condition: string): void {
  assert.equal(result.ok, false, `expected a rejection containing "${reason}"`);
  assert.ok(result.reason?.includes(reason), `reason "${result.reason}" does not contain "${reason}"`);
  assert.equal(result.condition, condition, `condition for "${result.reason}"`);
}

describe('parseForwardedIq rejects malformed and hostile stanzas', () => {
  for (const [name, stanza, reason, condition] of forwardedCorpus) {
    it(name, () => assertRejected(parseForwardedIq(parseXml(stanza), CTX), reason, condition));
  }

  it('an oversized stanza (policy-violation, RFC 6120 §4.9.3.14)', () => {
    const big = forwarded(inner(INNER_ATTRS, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>${'x'.repeat(5000)}</item></publish></pubsub>`));
    assertRejected(parseForwardedIq(parseXml(big), { ...CTX, maxBytes: 4096 }), 'bytes, over the 4096-byte limit', 'policy-violation');
    assert.equal(parseForwardedIq(parseXml(big), { ...CTX, maxBytes: 8192 }).ok, true);
  });

  it('a non-element input', () => {
    assertRejected(parseForwardedIq('<iq/>' as unknown as Element, CTX), 'not an <iq/> (got string)', 'bad-request');
  });
});

describe('parseForwardedIq accepts whitespace-laden but valid input and normalizes it', () => {
  const variants: Array<[string, string]> = [
    ['the XEP example with its indentation', XEP_FORWARDED_V2],
    ['whitespace between every element', `<iq ${OUTER_ATTRS}>\n <delegation xmlns='${D2}'>\n  ${FWD}\n   <iq ${INNER_ATTRS}>\n    ${PAYLOAD}\n   </iq>\n  </forwarded>\n </delegation>\n</iq>`],
    ['CRLF and tabs', `<iq ${OUTER_ATTRS}>\r\n\t<delegation xmlns='${D2}'>\r\n\t${FWD}\t<iq ${INNER_ATTRS}>\t${PAYLOAD}\r\n</iq>\r\n</forwarded></delegation>\r\n</iq>`],
    ['an inner iq without xmlns', forwarded(inner(INNER_ATTRS.replace("xmlns='jabber:client' ", '')))],
    ['attributes with double quotes and odd spacing', forwarded(`<iq  xmlns="jabber:client"  from = "juliet@capulet.lit/balcony"\n to="juliet@capulet.lit" id="pep1" type="set" >${PAYLOAD}</iq >`)],
    ['a resource with escaped markup', forwarded(inner(`from='juliet@capulet.lit/&lt;b&gt;&amp;&quot;' to='juliet@capulet.lit' id='pep1' type='set'`))],
    ['the server domain in upper case', forwarded(inner(INNER_ATTRS.replace("to='juliet@capulet.lit'", "to='juliet@CAPULET.LIT'")))],
    ['no inner to from a local user', forwarded(inner(INNER_NO_TO))],
  ];
  for (const [name, stanza] of variants) {
    it(name, () => {
      const result = parseForwardedIq(parseXml(stanza), CTX);
      if (!result.ok) assert.fail(`rejected: ${result.reason}`);
      const req = result.value;
      assert.equal(req.inner.attrs.xmlns, 'jabber:client');
      assert.equal(req.inner.children.length, 1);
      assert.equal(typeof req.inner.children[0], 'object');
      assert.equal(req.inner.attrs.to, req.targetBare, 'workers see the normalized target');
      assert.equal(req.payloadNs, 'http://jabber.org/protocol/pubsub');
    });
  }
});

describe('checkWorkerReply rejects bad worker replies', () => {
  const req: ForwardedRequest = (() => {
    const r = parseForwardedIq(parseXml(XEP_FORWARDED_V2), CTX);
    assert.ok(r.ok);
    return r.value;
  })();
  const ADDR = `from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'`;
  const ERR = `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`;
  const corpus: Array<[string, string, string]> = [
    ['wrong id', `<iq type='result' id='other' ${ADDR}/>`, "id 'other', expected 'pep1'"],
    ['missing id', `<iq type='result' ${ADDR}/>`, "id is missing, expected 'pep1'"],
    ['to the bare JID instead of the full one', `<iq type='result' id='pep1' from='juliet@capulet.lit' to='juliet@capulet.lit'/>`, "to 'juliet@capulet.lit', expected 'juliet@capulet.lit/balcony'"],
    ['to someone else (spoof)', `<iq type='result' id='pep1' from='juliet@capulet.lit' to='romeo@montague.lit/orchard'/>`, "to 'romeo@montague.lit/orchard', expected"],
    ['missing to', `<iq type='result' id='pep1' from='juliet@capulet.lit'/>`, 'to is missing'],
    ['from another account (spoof)', `<iq type='result' id='pep1' from='nurse@capulet.lit' to='juliet@capulet.lit/balcony'/>`, "from 'nurse@capulet.lit', expected 'juliet@capulet.lit'"],
    ['from the component', `<iq type='result' id='pep1' from='pubsub.capulet.lit' to='juliet@capulet.lit/balcony'/>`, "from 'pubsub.capulet.lit', expected"],
    ['missing from', `<iq type='result' id='pep1' to='juliet@capulet.lit/balcony'/>`, 'from is missing'],
    ['type get', `<iq type='get' id='pep1' ${ADDR}/>`, "type 'get', expected 'result' or 'error'"],
    ['type set', `<iq type='set' id='pep1' ${ADDR}/>`, "type 'set', expected 'result' or 'error'"],
    ['missing type', `<iq id='pep1' ${ADDR}/>`, 'type is missing'],
    ['two children in a result', `<iq type='result' id='pep1' ${ADDR}>${PAYLOAD}${PAYLOAD}</iq>`, 'result has 2 child elements, at most one is allowed'],
    ['text in a result', `<iq type='result' id='pep1' ${ADDR}>oops</iq>`, 'iq contains text'],
    ['an error without <error/>', `<iq type='error' id='pep1' ${ADDR}>${PAYLOAD}</iq>`, 'error reply has 0 <error/> children'],
    ['an error with two <error/>', `<iq type='error' id='pep1' ${ADDR}>${ERR}${ERR}</iq>`, 'error reply has 2 <error/> children'],
    ['an error with three children', `<iq type='error' id='pep1' ${ADDR}>${PAYLOAD}${PAYLOAD}${ERR}</iq>`, 'error reply has 3 child elements'],
    ['an <error/> without condition', `<iq type='error' id='pep1' ${ADDR}><error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text></error></iq>`, '<error/> has no RFC 6120 defined condition'],
    ['an <error/> with an invented condition', `<iq type='error' id='pep1' ${ADDR}><error type='cancel'><oops xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, '<error/> has no RFC 6120 defined condition'],
    ['an <error/> with a bad type', `<iq type='error' id='pep1' ${ADDR}><error type='fatal'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, "<error/> type 'fatal'"],
    ['an <error/> without type', `<iq type='error' id='pep1' ${ADDR}><error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, '<error/> type is missing'],
    ['a foreign namespace', `<iq xmlns='jabber:server' type='result' id='pep1' ${ADDR}/>`, "iq namespace 'jabber:server' is not jabber:client"],
    ['not an iq', `<message type='result' id='pep1' ${ADDR}/>`, 'not an <iq/> (got <message/>)'],
  ];
  for (const [name, reply, reason] of corpus) {
    it(name, () => assertRejected(checkWorkerReply(req, parseXml(reply)), `worker reply: ${reason}`, 'internal-server-error'));
  }
});

describe('parseGrantAdvertisement rejects malformed and hostile advertisements', () => {
  const body = `<delegation xmlns='${D2}'><delegated namespace='urn:xmpp:mam:2'/></delegation>`;
  const corpus: Array<[string, string, string, StanzaErrorCondition]> = [
    ['from another domain', `<message from='montague.lit' to='pubsub.capulet.lit'>${body}</message>`, "from 'montague.lit' is not the server domain 'capulet.lit'", 'forbidden'],
    ['from a user', `<message from='juliet@capulet.lit/balcony'>${body}</message>`, "from 'juliet@capulet.lit/balcony' is not the server domain", 'forbidden'],
    ['from the server with a resource', `<message from='capulet.lit/x'>${body}</message>`, "from 'capulet.lit/x' is not the server domain", 'forbidden'],
    ['without from', `<message to='pubsub.capulet.lit'>${body}</message>`, 'message has no from', 'forbidden'],
    ['to another entity', `<message from='capulet.lit' to='juliet@capulet.lit'>${body}</message>`, "to 'juliet@capulet.lit' is not the component domain", 'bad-request'],
    ['not a message', `<iq from='capulet.lit' type='set' id='a'>${body}</iq>`, 'not a <message/> (got <iq/>)', 'bad-request'],
    ['no delegation child', `<message from='capulet.lit'><body>hi</body></message>`, 'message has no <delegation/> child in urn:xmpp:delegation:1 or urn:xmpp:delegation:2', 'bad-request'],
    ['delegation:3', `<message from='capulet.lit'><delegation xmlns='urn:xmpp:delegation:3'/></message>`, "message has no <delegation/> child in urn:xmpp:delegation:1 or urn:xmpp:delegation:2 (found <delegation xmlns='urn:xmpp:delegation:3'/>)", 'bad-request'],
    ['two delegation children', `<message from='capulet.lit'>${body}${body}</message>`, 'message has 2 <delegation/> children', 'bad-request'],
    ['delegated without namespace', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='a'/><delegated/></delegation></message>`, '<delegated/> #2 has no namespace', 'bad-request'],
    ['delegated with an empty namespace', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace=''/></delegation></message>`, '<delegated/> #1 has no namespace', 'bad-request'],
    ['delegating the delegation namespace', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='${D2}'/></delegation></message>`, `namespace '${D2}' cannot be delegated`, 'bad-request'],
    ['delegating another delegation version', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='urn:xmpp:delegation:1'/></delegation></message>`, "namespace 'urn:xmpp:delegation:1' cannot be delegated", 'bad-request'],
    ['a pseudo-namespace of the other version', `<message from='capulet.lit'><delegation xmlns='urn:xmpp:delegation:1'><delegated namespace='urn:xmpp:delegation:2:bare:disco#info:*'/></delegation></message>`, "namespace 'urn:xmpp:delegation:2:bare:disco#info:*' cannot be delegated", 'bad-request'],
    ['an unknown pseudo-namespace', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='urn:xmpp:delegation:2:bare:roster:*'/></delegation></message>`, "namespace 'urn:xmpp:delegation:2:bare:roster:*' cannot be delegated", 'bad-request'],
    ['whitespace in a namespace', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='urn:xmpp: mam:2'/></delegation></message>`, "delegated namespace 'urn:xmpp: mam:2' contains whitespace", 'bad-request'],
    ['an attribute without name', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='urn:xmpp:mam:2'><attribute/></delegated></delegation></message>`, "<attribute/> without a name in <delegated namespace='urn:xmpp:mam:2'/>", 'bad-request'],
    ['an attribute with an empty name', `<message from='capulet.lit'><delegation xmlns='${D2}'><delegated namespace='urn:xmpp:mam:2'><attribute name=''/></delegated></delegation></message>`, '<attribute/> without a name', 'bad-request'],
  ];
  for (const [name, stanza, reason, condition] of corpus) {
    it(name, () => assertRejected(parseGrantAdvertisement(parseXml(stanza), CTX), `delegation advertisement: ${reason}`, condition));
  }
});
