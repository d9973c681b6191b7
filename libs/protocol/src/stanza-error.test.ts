import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { fail } from './result';
import {
  DEFAULT_ERROR_TYPE,
  STANZA_ERROR_CONDITIONS,
  StanzaError,
  buildErrorElement,
  parseErrorElement,
  stanzaErrorFromFailure,
} from './stanza-error';
import { parseXml } from './xml-parse';

describe('StanzaError (RFC 6120 §8.3)', () => {
  it('has the 22 conditions of §8.3.3, each with a default type', () => {
    assert.equal(STANZA_ERROR_CONDITIONS.length, 22);
    for (const c of STANZA_ERROR_CONDITIONS) assert.ok(DEFAULT_ERROR_TYPE[c]);
    assert.equal(DEFAULT_ERROR_TYPE['bad-request'], 'modify');
    assert.equal(DEFAULT_ERROR_TYPE['service-unavailable'], 'cancel');
    assert.equal(DEFAULT_ERROR_TYPE.forbidden, 'auth');
    assert.equal(DEFAULT_ERROR_TYPE['resource-constraint'], 'wait');
  });

  it('is an Error with name, condition, default or given type, and cause', () => {
    const cause = new Error('db down');
    const err = new StanzaError('internal-server-error', { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'StanzaError');
    assert.equal(err.type, 'cancel');
    assert.equal(err.cause, cause);
    assert.equal(new StanzaError('internal-server-error', { type: 'wait' }).type, 'wait');
  });

  it('builds the error element of RFC 6120 §8.3.2', () => {
    const err = new StanzaError('not-acceptable', {
      text: 'item too big',
      appCondition: xml('payload-too-big', { xmlns: 'http://jabber.org/protocol/pubsub#errors' }),
    });
    assert.equal(
      buildErrorElement(err).toString(),
      '<error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>' +
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">item too big</text>' +
        '<payload-too-big xmlns="http://jabber.org/protocol/pubsub#errors"/></error>',
    );
    assert.equal(buildErrorElement(new StanzaError('item-not-found')).toString(), '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>');
  });

  it('turns a Result failure into a StanzaError', () => {
    const err = stanzaErrorFromFailure(fail('forwarded iq: inner iq has no id'));
    assert.equal(err.condition, 'bad-request');
    assert.equal(err.text, 'forwarded iq: inner iq has no id');
  });
});

describe('parseErrorElement', () => {
  it('reads RFC 6120 example 8.3.3.6-style errors', () => {
    const iq = parseXml(
      `<iq from='capulet.lit' id='k3' to='juliet@capulet.lit/balcony' type='error'>` +
        `<error type='wait' by='capulet.lit'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
        `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>busy</text><x xmlns='urn:app'/></error></iq>`,
    );
    const parsed = parseErrorElement(iq);
    assert.equal(parsed?.type, 'wait');
    assert.equal(parsed?.condition, 'resource-constraint');
    assert.equal(parsed?.text, 'busy');
    assert.equal(parsed?.appCondition?.name, 'x');
  });

  it('round-trips buildErrorElement, directly on the <error/> too', () => {
    const el = buildErrorElement(new StanzaError('conflict', { text: 't' }));
    assert.deepEqual(parseErrorElement(xml('iq', { type: 'error' }, el)), { type: 'cancel', condition: 'conflict', text: 't' });
    assert.deepEqual(parseErrorElement(el), { type: 'cancel', condition: 'conflict', text: 't' });
  });

  it('falls back to undefined-condition and the default type', () => {
    const parsed = parseErrorElement(parseXml(`<iq type='error'><error type='bogus'><weird xmlns='urn:x'/></error></iq>`));
    assert.equal(parsed?.type, 'cancel');
    assert.equal(parsed?.condition, 'undefined-condition');
    assert.equal(parsed?.appCondition?.name, 'weird');
  });

  it('returns null without an <error/> child', () => {
    assert.equal(parseErrorElement(parseXml(`<iq type='result'/>`)), null);
  });
});
