import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { buildIqError, buildIqResult, firstChildElement, iqType, isIq, isIqRequest } from './iq';
import { StanzaError } from './stanza-error';
import { parseXml } from './xml-parse';

// XEP-0199 §4.2 client-to-component ping.
const PING = `<iq from='juliet@capulet.lit/balcony' to='pubsub.capulet.lit' id='c2s1' type='get'>\n  <ping xmlns='urn:xmpp:ping'/>\n</iq>`;

describe('iq helpers', () => {
  it('recognizes IQs in the stanza namespaces', () => {
    assert.equal(isIq(parseXml(PING)), true);
    assert.equal(isIq(parseXml(`<iq xmlns='jabber:component:accept'/>`)), true);
    assert.equal(isIq(parseXml(`<iq xmlns='urn:other'/>`)), false);
    assert.equal(isIq(parseXml(`<message/>`)), false);
  });

  it('reads the type and the first child element, skipping whitespace', () => {
    const ping = parseXml(PING);
    assert.equal(iqType(ping), 'get');
    assert.equal(iqType(parseXml(`<iq type='bogus'/>`)), undefined);
    assert.equal(firstChildElement(ping)?.name, 'ping');
    assert.equal(isIqRequest(ping), true);
    assert.equal(isIqRequest(parseXml(`<iq type='get'/>`)), false);
    assert.equal(isIqRequest(parseXml(`<iq type='result' id='x'/>`)), false);
  });

  it('builds a result with swapped addresses (XEP-0199 example 5)', () => {
    assert.equal(
      buildIqResult(parseXml(PING)).toString(),
      '<iq type="result" id="c2s1" from="pubsub.capulet.lit" to="juliet@capulet.lit/balcony"/>',
    );
    assert.equal(buildIqResult(parseXml(PING), xml('x', { xmlns: 'urn:x' })).toString().includes('<x xmlns="urn:x"/>'), true);
  });

  it('builds a plain error reply without echoing the payload', () => {
    const reply = buildIqError(parseXml(PING), new StanzaError('service-unavailable'));
    assert.equal(
      reply?.toString(),
      '<iq type="error" id="c2s1" from="pubsub.capulet.lit" to="juliet@capulet.lit/balcony">' +
        '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    );
  });

  it('never answers a result or an error (RFC 6120 §8.2.3)', () => {
    assert.equal(buildIqError(parseXml(`<iq type='result' id='a'/>`), new StanzaError('bad-request')), null);
    assert.equal(buildIqError(parseXml(`<iq type='error' id='a'/>`), new StanzaError('bad-request')), null);
  });
});
