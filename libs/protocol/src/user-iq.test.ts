import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildUserIq, checkUserIqTarget, iqResponseFromMatches, isIqResponse } from './user-iq';
import { parseXml } from './xml-parse';

const CTX = { serverDomain: 'localhost', componentDomain: 'pubsub.localhost' };

function refused(r: ReturnType<typeof checkUserIqTarget>, pattern: RegExp) {
  assert.equal(r.ok, false, JSON.stringify(r));
  if (r.ok) return;
  assert.equal(r.condition, 'forbidden');
  assert.match(r.reason, pattern);
}

describe('checkUserIqTarget', () => {
  it('roster-get: a bare JID of a local user, normalized', () => {
    assert.deepEqual(checkUserIqTarget('roster-get', 'Alice@LocalHost', CTX), { ok: true, value: 'alice@localhost' });
    refused(checkUserIqTarget('roster-get', 'alice@localhost/phone', CTX), /full JID/);
    refused(checkUserIqTarget('roster-get', 'localhost', CTX), /server domain itself/);
    refused(checkUserIqTarget('roster-get', 'mallory@evil.example', CTX), /not a user of the served domain/);
    refused(checkUserIqTarget('roster-get', 'alice@pubsub.localhost', CTX), /not a user of the served domain/);
    refused(checkUserIqTarget('roster-get', 'a@b@localhost', CTX), /not a valid JID/);
  });

  it('disco-info: a full JID of any domain but the component', () => {
    assert.deepEqual(checkUserIqTarget('disco-info', 'Alice@LocalHost/Phone', CTX), { ok: true, value: 'alice@localhost/Phone' });
    assert.ok(checkUserIqTarget('disco-info', 'carol@remote.example/laptop', CTX).ok);
    refused(checkUserIqTarget('disco-info', 'alice@localhost', CTX), /not a full JID/);
    refused(checkUserIqTarget('disco-info', 'localhost', CTX), /not a full JID/);
    refused(checkUserIqTarget('disco-info', 'x@pubsub.localhost/r', CTX), /component's own domain/);
    refused(checkUserIqTarget('disco-info', '', CTX), /not a valid JID/);
  });
});

describe('buildUserIq', () => {
  it('roster get and disco#info, with and without node', () => {
    assert.equal(
      buildUserIq({ kind: 'roster-get', to: 'alice@localhost', id: 'u1', componentDomain: 'pubsub.localhost' }).toString(),
      `<iq type="get" from="pubsub.localhost" to="alice@localhost" id="u1"><query xmlns="jabber:iq:roster"/></iq>`,
    );
    assert.equal(
      buildUserIq({ kind: 'disco-info', to: 'alice@localhost/phone', id: 'u2', componentDomain: 'pubsub.localhost', node: `https://x#a'b"<c>` }).toString(),
      `<iq type="get" from="pubsub.localhost" to="alice@localhost/phone" id="u2"><query xmlns="http://jabber.org/protocol/disco#info" node="https://x#a&apos;b&quot;&lt;c&gt;"/></iq>`,
    );
    assert.equal(
      buildUserIq({ kind: 'disco-info', to: 'alice@localhost/phone', id: 'u3', componentDomain: 'pubsub.localhost' }).toString(),
      `<iq type="get" from="pubsub.localhost" to="alice@localhost/phone" id="u3"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
    );
  });
});

describe('response matching', () => {
  it('isIqResponse: result or error with an id', () => {
    assert.ok(isIqResponse(parseXml(`<iq type='result' id='a'/>`)));
    assert.ok(isIqResponse(parseXml(`<iq type='error' id='a'/>`)));
    assert.ok(!isIqResponse(parseXml(`<iq type='get' id='a'/>`)));
    assert.ok(!isIqResponse(parseXml(`<iq type='result'/>`)));
    assert.ok(!isIqResponse(parseXml(`<message type='error' id='a'/>`)));
  });

  it('the sender must be the entity asked, after normalization; no from never matches', () => {
    const from = (f?: string) => parseXml(f === undefined ? `<iq type='result' id='a'/>` : `<iq type='result' id='a' from='${f}'/>`);
    // Prosody answers a roster get to Alice@LocalHost from alice@localhost
    assert.ok(iqResponseFromMatches(from('alice@localhost'), 'Alice@LocalHost'));
    assert.ok(iqResponseFromMatches(from('alice@localhost/phone'), 'alice@localhost/phone'));
    assert.ok(!iqResponseFromMatches(from('alice@localhost/Phone'), 'alice@localhost/phone'), 'resources are case-sensitive');
    assert.ok(!iqResponseFromMatches(from('alice@localhost/phone'), 'alice@localhost'), 'a resource answering for the bare JID');
    assert.ok(!iqResponseFromMatches(from('mallory@localhost'), 'alice@localhost'));
    assert.ok(!iqResponseFromMatches(from('localhost'), 'alice@localhost'));
    assert.ok(!iqResponseFromMatches(from(), 'alice@localhost'));
    assert.ok(!iqResponseFromMatches(from('not a jid@@'), 'alice@localhost'));
  });
});
