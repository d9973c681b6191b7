import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { OutboundEnvelope } from '@dbroker/bus';
import { parseXml } from '@dbroker/protocol';
import { createPgPubsubStorage, createPubsubEngine, handlePubsubIq } from '@dbroker/pubsub';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createMamHandler, type MamHandler } from './handler';

// Retract, purge and node delete take the content out of the node's MAM archive by default: the
// retraction (purge) stays in the history and the earlier publish entries stay as tombstones, an
// `<item id='...'/>` without payload. MAM_KEEP_RETRACTED_PAYLOADS=true (engine option
// keepRetractedPayloads) keeps them. Real Postgres; the PEP engine writes, the MAM handler reads.

const logger = { error: () => undefined };
const READER = 'romeo@montague.lit/orchard';
const NODE = 'urn:xmpp:microblog:0';
const openNode = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options>`;
const pubsubIq = (owner: string, type: 'set' | 'get', inner: string, ns = 'http://jabber.org/protocol/pubsub') =>
  `<iq xmlns='jabber:client' type='${type}' id='x${randomUUID().slice(0, 6)}' from='${owner}/desk' to='${owner}'><pubsub xmlns='${ns}'>${inner}</pubsub></iq>`;
const publish = (owner: string, itemId: string, secret: string) =>
  pubsubIq(owner, 'set', `<publish node='${NODE}'><item id='${itemId}'><entry xmlns='http://www.w3.org/2005/Atom'><title>${secret}</title></entry></item></publish>${openNode}`);
const retract = (owner: string, itemId: string) => pubsubIq(owner, 'set', `<retract node='${NODE}'><item id='${itemId}'/></retract>`);
const purge = (owner: string) => pubsubIq(owner, 'set', `<purge node='${NODE}'/>`, 'http://jabber.org/protocol/pubsub#owner');
const del = (owner: string) => pubsubIq(owner, 'set', `<delete node='${NODE}'/>`, 'http://jabber.org/protocol/pubsub#owner');
const mamQuery = (owner: string) =>
  `<iq xmlns='jabber:client' type='set' id='m1' from='${READER}' to='${owner}'><query xmlns='urn:xmpp:mam:2' node='${NODE}' queryid='q1'><set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set></query></iq>`;

describe('retracted payloads leave the node archive (real Postgres, through MAM)', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  let mam: MamHandler;
  const sent: OutboundEnvelope[] = [];
  const pep = (keep: boolean) => {
    const engine = createPubsubEngine({ storage: createPgPubsubStorage(handle.raw), keepRetractedPayloads: keep });
    return async (stanza: string) => {
      const reply = (await handlePubsubIq(parseXml(stanza), { engine, requestId: randomUUID(), logger })).toString();
      assert.match(reply, /type="result"/, reply);
    };
  };
  /** The archive as MAM serves it: one line per result (`publish id payload?`, `retract id`, `purge`). */
  const archive = async (owner: string): Promise<string[]> => {
    sent.length = 0;
    const reply = parseXml(await mam({ requestId: randomUUID(), server: 'capulet.lit', stanza: mamQuery(owner), deadline: Date.now() + 5000 }));
    assert.equal(reply.attrs.type, 'result', reply.toString());
    return sent.map((s) => {
      const event = parseXml(s.stanza).getChild('result')!.getChild('forwarded')!.getChild('message')!.getChild('event')!;
      const items = event.getChild('items');
      const item = items?.getChild('item');
      if (item) return `publish ${item.attrs.id}${item.children.length > 0 ? ` ${item.toString().includes('secret') ? 'payload' : '?'}` : ''}`;
      if (items?.getChild('retract')) return `retract ${items.getChild('retract')!.attrs.id}`;
      return event.children.map((c) => (c as { name: string }).name).join(',');
    });
  };
  const storedPayloads = async (owner: string) =>
    (await handle.raw.query<{ kind: string; item_id: string | null; payload: string | null }>({
      text: `select e.kind, e.item_id, e.payload from pubsub_node_events e join pubsub_nodes n on n.id = e.node_id where n.service = $1 order by e.seq`,
      values: [owner],
    })).map((r) => `${r.kind} ${r.item_id ?? '-'} ${r.payload === null ? 'null' : r.payload.includes('secret') ? 'payload' : '?'}`);

  before(async () => {
    temp = await createTempDatabase('dbroker_mam_retract');
    handle = await createDatabase({ url: temp.url });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    mam = createMamHandler({
      db: handle.db,
      logger,
      outbound: async (_subject, env) => {
        sent.push(env);
        return { v: 1, ok: true };
      },
      subjectPrefix: 'xmpp',
      workerId: 'mam@test',
      pageSize: { default: 50, max: 50 },
      ackTimeoutMs: 1000,
      sendWindow: 4,
    });
  });
  after(async () => {
    await handle.close();
    await temp.drop();
  });

  test('retract: the retraction stays, every earlier publish of the item is a tombstone, other items keep theirs', async () => {
    const owner = 'juliet@capulet.lit';
    const write = pep(false);
    await write(publish(owner, 'a1', 'secret one'));
    await write(publish(owner, 'a2', 'secret two'));
    await write(publish(owner, 'a1', 'secret one, edited'));
    assert.deepEqual(await archive(owner), ['publish a1 payload', 'publish a2 payload', 'publish a1 payload']);
    await write(retract(owner, 'a1'));
    assert.deepEqual(await archive(owner), ['publish a1', 'publish a2 payload', 'publish a1', 'retract a1']);
    assert.deepEqual(await storedPayloads(owner), ['publish a1 null', 'publish a2 payload', 'publish a1 null', 'retract a1 null'], 'gone from the table, not only from the answer');
    // publishing the id again is new content, kept until retracted again
    await write(publish(owner, 'a1', 'secret three'));
    assert.deepEqual((await archive(owner)).slice(-1), ['publish a1 payload']);
  });

  test('purge and node delete erase every payload of the node log', async () => {
    const owner = 'ophelia@capulet.lit';
    const write = pep(false);
    await write(publish(owner, 'b1', 'secret b1'));
    await write(publish(owner, 'b2', 'secret b2'));
    await write(purge(owner));
    assert.deepEqual(await archive(owner), ['publish b1', 'publish b2', 'purge']);
    await write(publish(owner, 'b3', 'secret b3'));
    await write(del(owner));
    assert.deepEqual(await storedPayloads(owner), ['publish b1 null', 'publish b2 null', 'purge - null', 'publish b3 null', 'delete - null']);
  });

  test('MAM_KEEP_RETRACTED_PAYLOADS (keepRetractedPayloads) keeps them for operators who must', async () => {
    const owner = 'nurse@capulet.lit';
    const write = pep(true);
    await write(publish(owner, 'c1', 'secret c1'));
    await write(retract(owner, 'c1'));
    assert.deepEqual(await archive(owner), ['publish c1 payload', 'retract c1']);
    await write(publish(owner, 'c2', 'secret c2'));
    await write(purge(owner));
    assert.deepEqual(await storedPayloads(owner), ['publish c1 payload', 'retract c1 null', 'publish c2 payload', 'purge - null']);
  });
});
