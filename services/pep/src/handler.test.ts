import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { parseXml } from '@dbroker/protocol';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createPepHandler, PepRequestError, type PepHandler } from './handler';

const OWNER = 'juliet@capulet.lit';
const logger = { error: () => undefined };

const publish = (id: string, node: string, itemId: string, payload: string) =>
  `<iq xmlns='jabber:client' type='set' id='${id}' from='${OWNER}/balcony' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>` +
  `<publish node='${node}'><item id='${itemId}'>${payload}</item></publish></pubsub></iq>`;
const items = (id: string, node: string, from = `${OWNER}/balcony`) =>
  `<iq xmlns='jabber:client' type='get' id='${id}' from='${from}' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${node}'/></pubsub></iq>`;
const TUNE = "<tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist><title>Heart of the Sunrise</title></tune>";

describe('PEP handler on Postgres', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  let replicaA: PepHandler;
  let replicaB: PepHandler;
  before(async () => {
    temp = await createTempDatabase('dbroker_pep');
    handle = await createDatabase({ url: temp.url });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    // two handlers on one database: two stateless replicas
    replicaA = createPepHandler({ db: handle.raw, logger, maxPayloadBytes: 4096 });
    replicaB = createPepHandler({ db: handle.raw, logger, maxPayloadBytes: 4096 });
  });
  after(async () => {
    await handle.close();
    await temp.drop();
  });

  test('XEP-0163 publish then retrieve, as XML text', async () => {
    const published = await replicaA({ requestId: randomUUID(), stanza: publish('p1', 'http://jabber.org/protocol/tune', 'current', TUNE) });
    assert.equal(
      published,
      `<iq type="result" id="p1" from="${OWNER}" to="${OWNER}/balcony"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="http://jabber.org/protocol/tune"><item id="current"/></publish></pubsub></iq>`,
    );
    const read = await replicaB({ requestId: randomUUID(), stanza: items('g1', 'http://jabber.org/protocol/tune') });
    const entry = parseXml(read).getChild('pubsub')?.getChild('items')?.getChild('item');
    assert.equal(entry?.attrs.id, 'current');
    assert.equal(entry?.getChildElements()[0]?.toString(), parseXml(TUNE).toString());
  });

  test('a request retried on another replica is answered the same and applied once', async () => {
    const requestId = randomUUID();
    const stanza = publish('p2', 'urn:xmpp:mood', 'current', "<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>");
    const [a, b] = await Promise.all([replicaA({ requestId, stanza }), replicaB({ requestId, stanza })]);
    assert.equal(a, b);
    const count = await handle.db.execute<{ n: string }>(sql`select count(*)::text as n from pubsub_node_events where request_id = ${requestId}`);
    assert.equal(count.rows[0]?.n, '1');
  });

  test('errors come back as error iqs; unreadable input is a PepRequestError', async () => {
    const big = await replicaA({ requestId: randomUUID(), stanza: publish('p3', 'n', 'x', `<big xmlns='urn:big'>${'x'.repeat(5000)}</big>`) });
    assert.match(big, /^<iq type="error" id="p3".*<not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>.*<payload-too-big xmlns="http:\/\/jabber.org\/protocol\/pubsub#errors"\/>/);
    const denied = await replicaA({ requestId: randomUUID(), stanza: items('g2', 'http://jabber.org/protocol/tune', 'romeo@montague.lit/orchard') });
    assert.match(denied, /<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/><\/error>/, 'a node the requester may not read looks missing');
    await assert.rejects(replicaA({ requestId: randomUUID(), stanza: '<iq type="get"' }), PepRequestError);
    await assert.rejects(replicaA({ requestId: randomUUID(), stanza: '<message/>' }), PepRequestError);
  });
});
