import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { OutboundEnvelope } from '@dbroker/bus';
import { parseXml } from '@dbroker/protocol';
import { createNodeHistorySweeper, createPgPubsubStorage, createPubsubEngine, handlePubsubIq } from '@dbroker/pubsub';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createMamHandler, type MamHandler } from './handler';

// The node history retention seen through MAM: the PEP engine writes on real Postgres, the sweep deletes
// history, the MAM handler pages over what remains with RSM (max 3), and the current items are still in
// the archive whatever their age.

const logger = { error: () => undefined };
const READER = 'romeo@montague.lit/orchard';
const NODE = 'urn:xmpp:microblog:0';
const DAY = 86_400_000;
const options = (maxItems: string) =>
  `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>${maxItems}</value></field></x></publish-options>`;
const publishIq = (owner: string, itemId: string, maxItems = 'max') =>
  `<iq xmlns='jabber:client' type='set' id='x${randomUUID().slice(0, 6)}' from='${owner}/desk' to='${owner}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${NODE}'><item id='${itemId}'><entry xmlns='http://www.w3.org/2005/Atom'><title>${itemId}</title></entry></item></publish>${options(maxItems)}</pubsub></iq>`;
const mamQuery = (owner: string, rsm: string) =>
  `<iq xmlns='jabber:client' type='set' id='m1' from='${READER}' to='${owner}'><query xmlns='urn:xmpp:mam:2' node='${NODE}' queryid='q1'><set xmlns='http://jabber.org/protocol/rsm'>${rsm}</set></query></iq>`;

describe('node history retention through MAM (real Postgres)', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  let mam: MamHandler;
  const sent: OutboundEnvelope[] = [];

  const publish = async (owner: string, itemId: string, maxItems?: string) => {
    const engine = createPubsubEngine({ storage: createPgPubsubStorage(handle.raw) });
    const reply = (await handlePubsubIq(parseXml(publishIq(owner, itemId, maxItems)), { engine, requestId: randomUUID(), logger })).toString();
    assert.match(reply, /type="result"/, reply);
  };
  /** One MAM page: the item ids of its results, their archive ids, and the fin's `complete` and `<count/>`. */
  const page = async (owner: string, rsm: string) => {
    sent.length = 0;
    const reply = parseXml(await mam({ requestId: randomUUID(), server: 'capulet.lit', stanza: mamQuery(owner, rsm), deadline: Date.now() + 5000 }));
    if (reply.attrs.type !== 'result') return { error: reply.getChild('error')?.children.map((c) => (c as { name: string }).name)[0] };
    const results = sent.map((s) => parseXml(s.stanza).getChild('result')!);
    const fin = reply.getChild('fin')!;
    return {
      items: results.map((r) => r.getChild('forwarded')!.getChild('message')!.getChild('event')!.getChild('items')!.getChild('item')!.attrs.id as string),
      ids: results.map((r) => r.attrs.id as string),
      complete: fin.attrs.complete === 'true',
      count: Number(fin.getChild('set')?.getChildText('count')),
    };
  };
  /** Every item id in the archive, paging forwards 3 at a time. */
  const walk = async (owner: string) => {
    const items: string[] = [];
    let after = '';
    for (let i = 0; i < 50; i++) {
      const p = await page(owner, `<max>3</max>${after ? `<after>${after}</after>` : ''}`);
      assert.ok(p.items && p.ids, JSON.stringify(p));
      items.push(...p.items);
      if (p.complete || p.ids.length === 0) return items;
      after = p.ids.at(-1)!;
    }
    throw new Error('never complete');
  };
  const ageNode = (owner: string, days: number) =>
    handle.raw.query({
      text: `update pubsub_node_events e set at = e.at - $2 * interval '1 day' from pubsub_nodes n where n.id = e.node_id and n.service = $1`,
      values: [owner, days],
    });

  before(async () => {
    temp = await createTempDatabase('dbroker_mam_history');
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

  test('age: old history leaves the archive, the current items stay whatever their age, RSM pages and counts what remains', async () => {
    const owner = 'juliet@capulet.lit';
    for (const id of ['a', 'b', 'c', 'a', 'b', 'd', 'a']) await publish(owner, id);
    await ageNode(owner, 400);
    for (const id of ['e', 'f', 'e', 'g']) await publish(owner, id);
    const before = await page(owner, '<max>3</max>');
    assert.equal(before.count, 11);
    const deletedId = before.ids![0]!;

    const sweeper = createNodeHistorySweeper(handle.raw, { retentionDays: 365, maxEvents: 0, tombstoneDays: 0, bounds: { batchRows: 2, maxBatches: 2 } });
    while ((await sweeper.sweep()).more);
    // the last publish of each of b, c, d, a (current, old) and the recent history
    assert.deepEqual(await walk(owner), ['c', 'b', 'd', 'a', 'e', 'f', 'e', 'g']);
    assert.equal((await page(owner, '<max>3</max>')).count, 8);
    // backwards from the end: the last page
    assert.deepEqual((await page(owner, '<max>3</max><before/>')).items, ['f', 'e', 'g']);
    // a cursor retention deleted is no longer in the archive
    assert.deepEqual(await page(owner, `<max>3</max><after>${deletedId}</after>`), { error: 'item-not-found' });
  });

  test('cap: the newest entries per node and every current item stay; a node under the cap keeps all', async () => {
    const busy = 'ophelia@capulet.lit';
    const quiet = 'nurse@capulet.lit';
    // max_items 3: the node holds the last three ids published
    for (let i = 0; i < 25; i++) await publish(busy, `p${i % 6}`, '3');
    for (let i = 0; i < 4; i++) await publish(quiet, `q${i}`);
    const sweeper = createNodeHistorySweeper(handle.raw, { retentionDays: 365, maxEvents: 5, tombstoneDays: 0, bounds: { batchRows: 4, maxBatches: 2 } });
    while ((await sweeper.sweep()).more);
    assert.deepEqual(await walk(busy), ['p2', 'p3', 'p4', 'p5', 'p0']);
    assert.deepEqual(await walk(quiet), ['q0', 'q1', 'q2', 'q3']);
  });
});
