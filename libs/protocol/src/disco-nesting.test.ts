import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDiscoInfoResult, discoNestingNode, isDiscoInfoQuery, parseDiscoNestingNode } from './disco-nesting';
import { parseXml } from './xml-parse';

// XEP-0355 §7.2: the server asks the managing entity for the features of a delegated namespace.
const XEP_NESTING_QUERY = `<iq from='capulet.lit' id='disco2' to='pubsub.capulet.lit' type='get'>
  <query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:2::http://jabber.org/protocol/pubsub'/>
</iq>`;

describe('parseDiscoNestingNode', () => {
  it('reads domain (::) and bare (:bare:) nodes in both versions', () => {
    assert.deepEqual(parseDiscoNestingNode('urn:xmpp:delegation:2::http://jabber.org/protocol/pubsub'), {
      version: 'urn:xmpp:delegation:2',
      scope: 'domain',
      namespace: 'http://jabber.org/protocol/pubsub',
    });
    assert.deepEqual(parseDiscoNestingNode('urn:xmpp:delegation:1:bare:urn:xmpp:mam:2'), {
      version: 'urn:xmpp:delegation:1',
      scope: 'bare',
      namespace: 'urn:xmpp:mam:2',
    });
  });

  it('returns null for other nodes', () => {
    for (const node of ['', 'http://jabber.org/protocol/commands', 'urn:xmpp:delegation:2::', 'urn:xmpp:delegation:2:bare:', 'urn:xmpp:delegation:3::x', 'urn:xmpp:delegation:2:x']) {
      assert.equal(parseDiscoNestingNode(node), null, node);
    }
  });

  it('discoNestingNode inverts it', () => {
    assert.equal(discoNestingNode('urn:xmpp:delegation:1', 'bare', 'urn:xmpp:mam:2'), 'urn:xmpp:delegation:1:bare:urn:xmpp:mam:2');
    assert.equal(discoNestingNode('urn:xmpp:delegation:2', 'domain', 'x'), 'urn:xmpp:delegation:2::x');
  });
});

describe('disco#info answers', () => {
  it('isDiscoInfoQuery accepts the XEP example, whitespace included', () => {
    assert.equal(isDiscoInfoQuery(parseXml(XEP_NESTING_QUERY)), true);
    assert.equal(isDiscoInfoQuery(parseXml(`<iq type='set' id='a'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)), false);
    assert.equal(isDiscoInfoQuery(parseXml(`<iq type='get' id='a'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)), false);
    assert.equal(isDiscoInfoQuery(parseXml(`<iq type='get' id='a'><query xmlns='http://jabber.org/protocol/disco#info'/><x xmlns='y'/></iq>`)), false);
  });

  it('echoes the node, swaps addresses and writes no whitespace (XEP-0355 §7.2 example)', () => {
    const reply = buildDiscoInfoResult(parseXml(XEP_NESTING_QUERY), {
      identities: [],
      features: ['http://jabber.org/protocol/pubsub#publish', 'http://jabber.org/protocol/pubsub#publish-options', 'http://jabber.org/protocol/pubsub#publish'],
    });
    assert.equal(
      reply.toString(),
      `<iq type="result" id="disco2" from="pubsub.capulet.lit" to="capulet.lit">` +
        `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:xmpp:delegation:2::http://jabber.org/protocol/pubsub">` +
        `<feature var="http://jabber.org/protocol/pubsub#publish"/><feature var="http://jabber.org/protocol/pubsub#publish-options"/>` +
        `</query></iq>`,
    );
  });

  it('writes identities, and an explicit node overrides the query', () => {
    const reply = buildDiscoInfoResult(parseXml(XEP_NESTING_QUERY), {
      node: 'urn:xmpp:delegation:2:bare:http://jabber.org/protocol/pubsub',
      identities: [{ category: 'pubsub', type: 'pep' }, { category: 'pubsub', type: 'service', name: 'PEP' }],
      features: [],
    });
    assert.match(reply.toString(), /node="urn:xmpp:delegation:2:bare:http:\/\/jabber.org\/protocol\/pubsub"><identity category="pubsub" type="pep"\/><identity category="pubsub" type="service" name="PEP"\/><\/query>/);
  });
});
