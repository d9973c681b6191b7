import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseErrorElement } from './stanza-error';
import { parseRequestStanza } from './request-stanza';

const address = { iqId: 'q1', iqType: 'set' as const, from: 'juliet@capulet.lit/balcony', to: 'juliet@capulet.lit' };

describe('parseRequestStanza (a worker reading the forwarded inner IQ)', () => {
  it('returns the IQ when it is within the limits', () => {
    const r = parseRequestStanza(`<iq xmlns='jabber:client' type='get' id='q1'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>`, { maxBytes: 1024 }, address);
    assert.ok(r.ok);
    assert.equal(r.iq.attrs.id, 'q1');
  });

  it('answers a stanza over a limit with policy-violation, addressed back to the requester', () => {
    const big = `<iq xmlns='jabber:client' type='set' id='q1'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>${'A'.repeat(100_000)}</after></set></query></iq>`;
    const r = parseRequestStanza(big, { maxBytes: 65_536 }, address);
    assert.ok(!r.ok);
    assert.ok(r.reply);
    assert.deepEqual({ ...r.reply.attrs }, { type: 'error', id: 'q1', from: 'juliet@capulet.lit', to: 'juliet@capulet.lit/balcony' });
    assert.equal(parseErrorElement(r.reply)?.condition, 'policy-violation');
    assert.equal(parseErrorElement(r.reply)?.type, 'modify');
  });

  it('answers a deep tree over the depth limit with policy-violation, and malformed XML or a non-IQ with bad-request', () => {
    const deep = `<iq type='set' id='q1'>${'<a>'.repeat(200)}${'</a>'.repeat(200)}</iq>`;
    const cases: Array<[string, string]> = [
      [deep, 'policy-violation'],
      ['<iq type="set"', 'bad-request'],
      ['<message/>', 'bad-request'],
    ];
    for (const [text, condition] of cases) {
      const r = parseRequestStanza(text, { maxDepth: 64 }, address);
      assert.ok(!r.ok, text.slice(0, 20));
      assert.equal(r.reply && parseErrorElement(r.reply)?.condition, condition);
    }
  });

  it('without the addressing it reports the reason only (the caller fails the request)', () => {
    const r = parseRequestStanza('<iq type="set"', {});
    assert.ok(!r.ok);
    assert.equal(r.reply, undefined);
    assert.match(r.reason, /malformed XML/);
  });
});
