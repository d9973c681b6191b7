import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEvent, buildFin, buildMetadata, buildResultMessage, type ArchiveEntry } from './results';

const at = new Date(Date.UTC(2010, 6, 10, 23, 8, 25));
const publish: ArchiveEntry = { id: '42', kind: 'publish', itemId: 'ae890ac5', payload: "<entry xmlns='http://www.w3.org/2005/Atom'><title>Soliloquy</title></entry>", at };

test('XEP-0442 §2 example 2 shape: one item per result message, delay stamp, queryid, archive id', () => {
  const msg = buildResultMessage({ ns: 'urn:xmpp:mam:2', archive: 'juliet@capulet.lit', to: 'romeo@montague.lit/orchard', queryId: 'g28', messageId: 'm1', node: 'princely_musings', entry: publish, deliverPayloads: true });
  assert.equal(
    msg.toString(),
    '<message xmlns="jabber:client" from="juliet@capulet.lit" to="romeo@montague.lit/orchard" id="m1">' +
      '<result xmlns="urn:xmpp:mam:2" id="42" queryid="g28"><forwarded xmlns="urn:xmpp:forward:0">' +
      '<delay xmlns="urn:xmpp:delay" stamp="2010-07-10T23:08:25.000Z"/>' +
      '<message xmlns="jabber:client" from="juliet@capulet.lit" to="juliet@capulet.lit">' +
      '<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="princely_musings"><item id="ae890ac5">' +
      '<entry xmlns="http://www.w3.org/2005/Atom"><title>Soliloquy</title></entry></item></items></event></message></forwarded></result></message>',
  );
  const noQueryId = buildResultMessage({ ns: 'urn:xmpp:mam:1', archive: 'a@b', to: 'c@d/e', messageId: 'm', node: 'n', entry: publish, deliverPayloads: true });
  assert.equal(noQueryId.getChild('result')?.attrs.queryid, undefined);
  assert.equal(noQueryId.getChild('result')?.attrs.xmlns, 'urn:xmpp:mam:1');
});

test('events per kind: retract, purge, delete; payload left out when not delivered or not kept', () => {
  assert.equal(buildEvent('n', { ...publish, kind: 'retract', payload: null }, true).toString(), '<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="n"><retract id="ae890ac5"/></items></event>');
  assert.equal(buildEvent('n', { ...publish, kind: 'purge', itemId: null, payload: null }, true).toString(), '<event xmlns="http://jabber.org/protocol/pubsub#event"><purge node="n"/></event>');
  assert.equal(buildEvent('n', { ...publish, kind: 'delete', itemId: null, payload: null }, true).toString(), '<event xmlns="http://jabber.org/protocol/pubsub#event"><delete node="n"/></event>');
  assert.equal(buildEvent('n', publish, false).toString(), '<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="n"><item id="ae890ac5"/></items></event>');
  assert.equal(buildEvent('n', { ...publish, payload: null }, true).toString(), '<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="n"><item id="ae890ac5"/></items></event>');
});

test('fin (§4.3) and metadata (§6)', () => {
  assert.equal(
    buildFin({ ns: 'urn:xmpp:mam:2', complete: true, rsm: { first: { id: '1', index: 0 }, last: '5', count: 5 } }).toString(),
    '<fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"><first index="0">1</first><last>5</last><count>5</count></set></fin>',
  );
  assert.equal(buildFin({ ns: 'urn:xmpp:mam:2', queryId: 'q', complete: false, rsm: {} }).toString(), '<fin xmlns="urn:xmpp:mam:2" complete="false" queryid="q"><set xmlns="http://jabber.org/protocol/rsm"/></fin>');
  assert.equal(
    buildMetadata('urn:xmpp:mam:2', { first: publish, last: { ...publish, id: '99', at: new Date(Date.UTC(2020, 3, 20, 14, 34, 21)) } }).toString(),
    '<metadata xmlns="urn:xmpp:mam:2"><start id="42" timestamp="2010-07-10T23:08:25.000Z"/><end id="99" timestamp="2020-04-20T14:34:21.000Z"/></metadata>',
  );
  assert.equal(buildMetadata('urn:xmpp:mam:2', undefined).toString(), '<metadata xmlns="urn:xmpp:mam:2"/>');
});

