import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import xml from '@xmpp/xml';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { iq, closeAll, type Client } from '../harness/xmpp-client';
import { connectPepClient, eventAbout, type PepClient } from '../harness/pep-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { eventually, sqlRows as sqlRowsOf } from '../harness/wait';
import { itemsIq, NS_PUBSUB, publishIq, resultItemIds } from '../harness/pubsub-iq';

// deploy/prosody/delegation-broker.cfg.lua works as written: Prosody serves `localhost` from the example
// (names and secret replaced, nothing else), and PEP with notifications and MAM on a node go through the broker.
// (The ejabberd example is what test/harness/ejabberd.ts runs in every ejabberd suite.)
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const PW = 'pw';
const TUNE = 'http://jabber.org/protocol/tune';

let prosody: ProsodyHandle;
let stack: BrokerStack;
let db: TempDatabase;
let sql: import('pg').Pool;
const clients: Client[] = [];

before(async () => {
  prosody = await startProsody({
    deployExample: true,
    users: ['alice', 'bob'].map((user) => ({ user, password: PW })),
    rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: 'alice@localhost', subscription: 'both' }] },
  });
  db = await createTempDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  stack = await startBrokerStack({ prosody, mode: 'separate', databaseUrl: db.url });
});

after(async () => {
  await closeAll(clients);
  await stack?.stop();
  await sql?.end();
  await db?.drop();
  await prosody?.stop();
});

test('the Prosody deploy example delegates PEP and node MAM and grants the privileges notifications need', async () => {
  const grants = await eventually(async () => {
    const rows = await sqlRowsOf(sql, 'select namespace from grants');
    return rows.length >= 5 ? rows.map((r) => r.namespace as string).sort() : undefined;
  }, 15_000, 'grants');
  assert.deepEqual(grants, ['http://jabber.org/protocol/pubsub', 'http://jabber.org/protocol/pubsub#owner', 'urn:xmpp:delegation:2:bare:disco#info:*', 'urn:xmpp:delegation:2:bare:disco#items:*', 'urn:xmpp:mam:2']);
  const priv = await eventually(async () => (await sqlRowsOf(sql, 'select perms from privileges'))[0], 10_000, 'privileges');
  assert.deepEqual([priv.perms.roster, priv.perms.message, priv.perms.presence], ['get', 'outgoing', 'roster']);

  const alice: PepClient = await connectPepClient({ port: prosody.c2sPort, user: 'alice', password: PW, resource: 'a', notify: [TUNE] });
  const bob: PepClient = await connectPepClient({ port: prosody.c2sPort, user: 'bob', password: PW, resource: 'b', notify: [TUNE] });
  clients.push(alice.client, bob.client);
  await eventually(async () => (await sqlRowsOf(sql, 'select 1 from presence_sessions where full_jid = $1', [bob.jid])).length > 0, 10_000, 'bob online');
  await iq(alice.client, publishIq(TUNE, 't1', xml('tune', { xmlns: TUNE }, xml('title', {}, 'deployed'))));
  await bob.waitForEvent(eventAbout(TUNE, 'alice@localhost', 'items'), 10_000, 'notification');
  assert.deepEqual(resultItemIds(await iq(bob.client, itemsIq(TUNE, { to: 'alice@localhost' }))), ['t1']);
  const mam = await iq(bob.client, xml('iq', { type: 'set', to: 'alice@localhost', id: 'mam1' }, xml('query', { xmlns: 'urn:xmpp:mam:2', node: TUNE, queryid: 'q1' })));
  assert.equal(mam.getChild('fin', 'urn:xmpp:mam:2')?.attrs.complete, 'true', mam.toString());
  assert.equal((await sqlRowsOf(sql, `select count(*)::int as n from audit_log where namespace = $1 and outcome = 'result'`, [NS_PUBSUB]))[0]!.n >= 2, true);
});
