import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { serializeStandalone } from './xml';

test('a payload cut out of its stanza keeps the declarations it uses and drops the stream one', () => {
  const stanza = parseXml(
    `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:geo='urn:geo' xmlns='jabber:client'><iq><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><geo:loc><geo:lat>1</geo:lat></geo:loc></item></publish></pubsub></iq></stream:stream>`,
  );
  const payload = stanza.getChildElements()[0]!.getChildElements()[0]!.getChildElements()[0]!.getChildElements()[0]!.getChildElements()[0]!;
  const text = serializeStandalone(payload);
  assert.doesNotMatch(text, /xmlns:stream/);
  assert.match(text, /xmlns:geo="urn:geo"|xmlns:geo='urn:geo'/);
  assert.equal(parseXml(text).getNS(), 'urn:geo');
});
