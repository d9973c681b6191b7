import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { OutboundAck, OutboundEnvelope } from '@dbroker/bus';
import { parseXml } from '@dbroker/protocol';
import { createPgPubsubStorage, createPubsubEngine, handlePubsubIq } from '@dbroker/pubsub';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createMamHandler, MamRequestError, type MamHandler } from './handler';

// The MAM handler on Postgres, fed through the PEP engine and translator (the same tables, the same read
// decision), with a recording stand-in for the ingress's outbound path.

const OWNER = 'juliet@capulet.lit';
const ROMEO = 'romeo@montague.lit/orchard';
const logger = { error: () => undefined };
const NODE = 'urn:xmpp:microblog:0';

const publish = (node: string, itemId: string, text: string, options = '') =>
  `<iq xmlns='jabber:client' type='set' id='p-${itemId}' from='${OWNER}/balcony' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>` +
  `<publish node='${node}'><item id='${itemId}'><entry xmlns='http://www.w3.org/2005/Atom'><title>${text}</title></entry></item></publish>${options}</pubsub></iq>`;
const openNode = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options>`;
function createPep(db: DatabaseHandle['db']) {
  const engine = createPubsubEngine({ storage: createPgPubsubStorage(db) });
  return async (stanza: string) => (await handlePubsubIq(parseXml(stanza), { engine, requestId: randomUUID(), logger })).toString();
}
const mamQuery = (node: string, inner = '', from = ROMEO) =>
  `<iq xmlns='jabber:client' type='set' id='m1' from='${from}' to='${OWNER}'><query xmlns='urn:xmpp:mam:2' node='${node}' queryid='q1'>${inner}</query></iq>`;

describe('MAM handler on Postgres', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  const sent: Array<{ subject: string; env: OutboundEnvelope; timeoutMs: number }> = [];
  let ack: (n: number) => OutboundAck = () => ({ v: 1, ok: true });
  let mam: MamHandler;
  const request = (stanza: string, deadline = Date.now() + 5000) => mam({ requestId: randomUUID(), server: 'capulet.lit', stanza, deadline });

  before(async () => {
    temp = await createTempDatabase('dbroker_mam');
    handle = await createDatabase({ url: temp.url });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    const pep = createPep(handle.db);
    const pub = async (stanza: string) => assert.match(await pep(stanza), /type="result"/);
    await pub(publish(NODE, 'post1', 'one', openNode));
    for (let i = 2; i <= 5; i++) await pub(publish(NODE, `post${i}`, String(i)));
    await pub(`<iq xmlns='jabber:client' type='set' id='r1' from='${OWNER}/balcony' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='${NODE}'><item id='post2'/></retract></pubsub></iq>`);
    await pub(publish('urn:xmpp:private-thoughts', 't1', 'secret'));
    mam = createMamHandler({
      db: handle.db,
      logger,
      outbound: async (subject, env, timeoutMs) => {
        sent.push({ subject, env, timeoutMs });
        return ack(sent.length);
      },
      subjectPrefix: 'xmpp',
      workerId: 'mam@test',
      pageSize: { default: 3, max: 10 },
      ackTimeoutMs: 1000,
      sendWindow: 1,
    });
  });
  after(async () => {
    await handle.close();
    await temp.drop();
  });

  test('results go out on the outbound subject one by one, from the owner to the requester, before the fin', async () => {
    sent.length = 0;
    ack = () => ({ v: 1, ok: true });
    const reply = parseXml(await request(mamQuery(NODE, `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>`)));
    assert.equal(reply.attrs.type, 'result');
    assert.equal(reply.attrs.to, ROMEO);
    assert.equal(reply.attrs.from, OWNER);
    const fin = reply.getChild('fin', 'urn:xmpp:mam:2')!;
    assert.equal(fin.attrs.complete, 'true');
    assert.equal(fin.getChild('set')?.getChildText('count'), '6');
    assert.equal(sent.length, 6);
    for (const s of sent) {
      assert.equal(s.subject, 'xmpp.out.capulet_2elit');
      assert.equal(s.env.kind, 'message');
      assert.equal(s.env.worker, 'mam@test');
      assert.ok(s.timeoutMs <= 1000 && s.timeoutMs > 0);
    }
    const messages = sent.map((s) => parseXml(s.env.stanza));
    assert.ok(messages.every((m) => m.attrs.from === OWNER && m.attrs.to === ROMEO && m.attrs.xmlns === 'jabber:client'));
    const events = messages.map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChild('event')!.getChild('items')!.getChildElements()[0]!);
    assert.deepEqual(events.map((e) => `${e.name}:${e.attrs.id}`), ['item:post1', 'item:post2', 'item:post3', 'item:post4', 'item:post5', 'retract:post2']);
    assert.equal(events[0]!.getChild('entry', 'http://www.w3.org/2005/Atom')?.getChildText('title'), 'one');
    const ids = messages.map((m) => Number(m.getChild('result')!.attrs.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'archive ids follow the log');
    assert.equal(fin.getChild('set')?.getChildText('last'), String(ids.at(-1)));
  });

  test('the same read decision as PEP: a stranger on a presence node sees no node (item-not-found on both)', async () => {
    sent.length = 0;
    const reply = parseXml(await request(mamQuery('urn:xmpp:private-thoughts')));
    assert.equal(reply.attrs.type, 'error');
    assert.ok(reply.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
    assert.equal(sent.length, 0);
    const own = parseXml(await request(mamQuery('urn:xmpp:private-thoughts', '', `${OWNER}/balcony`)));
    assert.equal(own.attrs.type, 'result');
    const read = await createPep(handle.db)(`<iq xmlns='jabber:client' type='get' id='g' from='${ROMEO}' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:private-thoughts'/></pubsub></iq>`);
    assert.match(read, /<error type="cancel"><item-not-found /);
  });

  test('outbound refusals become the query error; nothing is sent after a failure', async () => {
    sent.length = 0;
    ack = (n) => (n === 2 ? { v: 1, ok: false, error: 'offline', reason: 'no responders' } : { v: 1, ok: true });
    let reply = parseXml(await request(mamQuery(NODE)));
    assert.ok(reply.getChild('error')?.getChild('internal-server-error', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
    assert.equal(reply.getChild('error')?.attrs.type, 'wait');
    assert.equal(sent.length, 2);
    sent.length = 0;
    ack = () => ({ v: 1, ok: false, error: 'no-permission', reason: 'no message privilege' });
    reply = parseXml(await request(mamQuery(NODE)));
    assert.ok(reply.getChild('error')?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
    assert.doesNotMatch(reply.toString(), /privilege/, 'the internal reason stays in the log');
    sent.length = 0;
    ack = () => ({ v: 1, ok: true });
    reply = parseXml(await request(mamQuery(NODE), Date.now() - 1));
    assert.equal(reply.attrs.type, 'error', 'past its deadline nothing is sent');
    assert.equal(sent.length, 0);
  });

  test('unreadable requests are MamRequestErrors (the worker answers them with a failure)', async () => {
    await assert.rejects(request('<iq type="set"'), MamRequestError);
    await assert.rejects(request('<message/>'), MamRequestError);
  });
});
