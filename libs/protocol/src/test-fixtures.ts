// Shared stanzas for the tests: the XEP-0355 examples and the shapes Prosody and ejabberd send
// (protocol-notes §1). Not exported from the package.
import assert from 'node:assert/strict';
import type { Element } from '@xmpp/xml';
import { isElementNode } from './xml-util';

export const CTX = { serverDomain: 'capulet.lit', componentDomain: 'pubsub.capulet.lit', maxBytes: 65_536 };
export const LOCAL_CTX = { serverDomain: 'localhost', componentDomain: 'pubsub.localhost', maxBytes: 65_536 };

/** XEP-0355 v0.5, "server delegate the stanza to pubsub.capulet.lit" (indentation included). */
export const XEP_FORWARDED_V2 = `<iq from='capulet.lit' to='pubsub.capulet.lit' id='delegate1' type='set'>
    <delegation xmlns='urn:xmpp:delegation:2'>
        <forwarded xmlns='urn:xmpp:forward:0'>
            <iq xml:lang='en' from='juliet@capulet.lit/balcony' id='pep1' to='juliet@capulet.lit' type='set' xmlns='jabber:client'>
                <pubsub xmlns='http://jabber.org/protocol/pubsub'>
                    <publish node='http://jabber.org/protocol/mood'>
                        <item>
                            <mood xmlns='http://jabber.org/protocol/mood'>
                                <annoyed/>
                                <text>curse my nurse!</text>
                            </mood>
                        </item>
                    </publish>
                </pubsub>
            </iq>
        </forwarded>
    </delegation>
</iq>`;

/** The same request as XEP v0.2-0.4 (`urn:xmpp:delegation:1`) shows it. */
export const XEP_FORWARDED_V1 = XEP_FORWARDED_V2.replace('urn:xmpp:delegation:2', 'urn:xmpp:delegation:1');

/** XEP-0355 v0.5, "pubsub.capulet.lit replies to Juliet" wrapper, without the indentation. */
export const XEP_REPLY_V2 =
  `<iq type="result" id="delegate1" from="pubsub.capulet.lit" to="capulet.lit">` +
  `<delegation xmlns="urn:xmpp:delegation:2"><forwarded xmlns="urn:xmpp:forward:0">` +
  `<iq xmlns="jabber:client" type="result" id="pep1" from="juliet@capulet.lit" to="juliet@capulet.lit/balcony"/>` +
  `</forwarded></delegation></iq>`;

/** XEP-0355 v0.5, "server advertises delegated namespaces". */
export const XEP_ADVERTISEMENT_V2 = `<message from='capulet.lit' to='pubsub.capulet.lit'>
    <delegation xmlns='urn:xmpp:delegation:2'>
        <delegated namespace='urn:xmpp:mam:2'>
            <attribute name='node'/>
        </delegated>
        <delegated namespace='http://jabber.org/protocol/pubsub'/>
    </delegation>
</message>`;

/** Prosody 0.12 mod_delegation: a user querying their own PEP; the inner IQ has no `to`. */
export const PROSODY_NO_TO =
  `<iq from='localhost' to='pubsub.localhost' id='lx9Zq' type='set'>` +
  `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
  `<iq xmlns='jabber:client' from='alice@localhost/phone' id='items1' type='get'>` +
  `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:microblog:0'/></pubsub>` +
  `</iq></forwarded></delegation></iq>`;

/** Prosody 0.12 advertisement with its disco pseudo-namespaces and a filtering attribute. */
export const PROSODY_ADVERTISEMENT =
  `<message from='localhost' to='pubsub.localhost'><delegation xmlns='urn:xmpp:delegation:2'>` +
  `<delegated namespace='http://jabber.org/protocol/pubsub'/>` +
  `<delegated namespace='http://jabber.org/protocol/pubsub#owner'/>` +
  `<delegated namespace='urn:xmpp:mam:2'><attribute name='node'/></delegated>` +
  `<delegated namespace='urn:xmpp:delegation:2:bare:disco#info:*'/>` +
  `<delegated namespace='urn:xmpp:delegation:2:bare:disco#items:*'/>` +
  `</delegation></message>`;

/** ejabberd 23.01: `:1`, the inner IQ always has `to`, the stream namespace on the outer IQ. */
export const EJABBERD_FORWARDED =
  `<iq xmlns='jabber:component:accept' from='localhost' to='pubsub.localhost' id='rr-1700000000-1' type='set'>` +
  `<delegation xmlns='urn:xmpp:delegation:1'><forwarded xmlns='urn:xmpp:forward:0'>` +
  `<iq xmlns='jabber:client' xml:lang='en' to='user1@localhost' from='user1@localhost/tkabber' type='set' id='pub1'>` +
  `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='x'/></publish></pubsub>` +
  `</iq></forwarded></delegation></iq>`;

/** ejabberd 23.01: one message per activated (namespace, kind) pair, so the same namespace twice. */
export const EJABBERD_ADVERTISEMENT =
  `<message xmlns='jabber:component:accept' from='localhost' to='pubsub.localhost'>` +
  `<delegation xmlns='urn:xmpp:delegation:1'>` +
  `<delegated namespace='http://jabber.org/protocol/pubsub'/>` +
  `<delegated namespace='http://jabber.org/protocol/pubsub'/>` +
  `<delegated namespace='urn:xmpp:mam:2'/>` +
  `</delegation></message>`;

// Building blocks for hand-made variants.
export const OUTER_ATTRS = `from='capulet.lit' to='pubsub.capulet.lit' id='fwd1' type='set'`;
export const INNER_ATTRS = `xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='juliet@capulet.lit' id='pep1' type='set'`;
export const PAYLOAD = `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub>`;

export function innerIq(attrs = INNER_ATTRS, payload = PAYLOAD): string {
  return `<iq ${attrs}>${payload}</iq>`;
}

export function forwarded(inner = innerIq(), opts: { outer?: string; ns?: string; fwdNs?: string } = {}): string {
  const { outer = OUTER_ATTRS, ns = 'urn:xmpp:delegation:2', fwdNs = 'urn:xmpp:forward:0' } = opts;
  return `<iq ${outer}><delegation xmlns='${ns}'><forwarded xmlns='${fwdNs}'>${inner}</forwarded></delegation></iq>`;
}

/** Asserts that no text node sits anywhere in the delegation wrapper chain (Prosody counts them). */
export function assertNoWhitespaceInWrapper(outer: Element): void {
  let el: Element | undefined = outer;
  for (let level = 0; level < 4 && el; level++) {
    assert.ok(el.children.every(isElementNode), `level ${level} <${el.name}> has a text child`);
    el = el.children[0] as Element | undefined;
  }
}
