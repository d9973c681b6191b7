import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { MamRefusal } from './errors';
import { parseMamRequest } from './request';

const iq = (type: string, payload: string) => parseXml(`<iq xmlns='jabber:client' type='${type}' id='q1' from='bob@localhost/r' to='alice@localhost'>${payload}</iq>`);
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MamRefusal, String(err));
    return err.code;
  }
  assert.fail('expected a refusal');
};

test('XEP-0442 §2 example 1: a node query with queryid', () => {
  const r = parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' queryid='f28' node='fdp/submitted/capulet.lit/sonnets'/>`));
  assert.deepEqual(r, { kind: 'query', ns: 'urn:xmpp:mam:2', node: 'fdp/submitted/capulet.lit/sonnets', queryId: 'f28', filter: {}, rsm: {}, flip: false });
});

test('a full query: form, RSM, flip-page; mam:1 too', () => {
  const r = parseMamRequest(
    iq(
      'set',
      `<query xmlns='urn:xmpp:mam:2' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` +
        `<field var='start'><value>2010-08-07T00:00:00Z</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>09af3</after></set><flip-page/></query>`,
    ),
  );
  assert.equal(r.kind, 'query');
  if (r.kind !== 'query') return;
  assert.equal(r.filter.start?.toISOString(), '2010-08-07T00:00:00.000Z');
  assert.deepEqual(r.rsm, { max: 10, after: '09af3' });
  assert.equal(r.flip, true);
  const v1 = parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:1' node='n'><set xmlns='http://jabber.org/protocol/rsm'><before/></set></query>`));
  assert.equal(v1.kind === 'query' && v1.ns, 'urn:xmpp:mam:1');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:1' node='n'><flip-page/></query>`))), 'feature-not-implemented');
});

test('form discovery and metadata', () => {
  assert.deepEqual(parseMamRequest(iq('get', `<query xmlns='urn:xmpp:mam:2' node='n'/>`)), { kind: 'form', ns: 'urn:xmpp:mam:2', node: 'n' });
  assert.deepEqual(parseMamRequest(iq('get', `<query xmlns='urn:xmpp:mam:2'/>`)), { kind: 'form', ns: 'urn:xmpp:mam:2', node: undefined });
  assert.deepEqual(parseMamRequest(iq('get', `<metadata xmlns='urn:xmpp:mam:2' node='n'/>`)), { kind: 'metadata', ns: 'urn:xmpp:mam:2', node: 'n' });
});

test('refusals', () => {
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2'/>`))), 'not-an-archive', 'a user archive query is not ours');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node=''/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node='${'n'.repeat(1025)}'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node='n' queryid='${'q'.repeat(257)}'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node='n'><junk/></query>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node='n'><set xmlns='http://jabber.org/protocol/rsm'/><set xmlns='http://jabber.org/protocol/rsm'/></query>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<prefs xmlns='urn:xmpp:mam:2' default='always'/>`))), 'feature-not-implemented');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<metadata xmlns='urn:xmpp:mam:2' node='n'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('get', `<metadata xmlns='urn:xmpp:mam:1' node='n'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('get', `<query xmlns='urn:xmpp:mam:3' node='n'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('result', `<query xmlns='urn:xmpp:mam:2' node='n'/>`))), 'bad-request');
  assert.equal(refusal(() => parseMamRequest(iq('set', `<query xmlns='urn:xmpp:mam:2' node='n'/><query xmlns='urn:xmpp:mam:2' node='n'/>`))), 'bad-request');
});
