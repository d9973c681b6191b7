import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import xml from '@xmpp/xml';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { connectClient, iq, closeAll, type Client } from '../harness/xmpp-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { eventually, sqlRows as sqlRowsOf } from '../harness/wait';

// Bounded growth end to end: real Prosody 0.12, our services as separate processes, real NATS and Postgres.
// A client-chosen IQ id of 200 KB reaches the audit tables cut to its cap; the events stream carries the
// configured limits, and a projector restarted with other limits updates them.

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');
const PUBSUB = 'http://jabber.org/protocol/pubsub';

let prosody: ProsodyHandle;
let stack: BrokerStack;
let db: TempDatabase;
let sql: import('pg').Pool;
let alice: Client;

before(async () => {
  prosody = await startProsody({ users: [{ user: 'alice', password: 'pw' }] });
  db = await createTempDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  stack = await startBrokerStack({
    prosody,
    mode: 'separate',
    databaseUrl: db.url,
    requestTimeoutMs: 2000,
    env: { EVENTS_STREAM_MAX_AGE_MS: '86400000', EVENTS_STREAM_MAX_BYTES: '104857600' },
  });
  await eventually(async () => (await sqlRows('select 1 from grants where namespace = $1', [PUBSUB])).length > 0, 15_000, 'pubsub grant');
  alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: 'pw' });
});

after(async () => {
  await closeAll([alice].filter(Boolean));
  await stack?.stop();
  await sql?.end();
  await db?.drop();
  await prosody?.stop();
});

const sqlRows = (text: string, values: unknown[] = []) => sqlRowsOf(sql, text, values);

interface StreamInfo {
  config: { max_age: number; max_bytes: number; discard: string };
  state: { messages: number };
}
/** The JetStream API's stream info, asked directly (`$JS.API.STREAM.INFO.<name>`). */
async function streamInfo(nc: NatsConnection, name: string): Promise<StreamInfo> {
  const m = await nc.request(`$JS.API.STREAM.INFO.${name}`, '', { timeout: 5000 });
  return m.json<StreamInfo>();
}

test('a 200 KB client-chosen IQ id is answered and reaches events and audit_log cut to its cap', async () => {
  const id = `huge-${'i'.repeat(200_000)}`;
  const res = await iq(alice, xml('iq', { type: 'get', id }, xml('pubsub', { xmlns: PUBSUB }, xml('items', { node: 'urn:xmpp:e2e:huge-id' }))), 10_000).catch((err: unknown) => err);
  assert.ok(res, 'an answer came back');
  // whatever the answer (an error for a missing node, or a refusal of the stanza), the audit row is bounded
  const row = await eventually(async () => (await sqlRows(`select * from audit_log where requester like 'alice@localhost/%' and outcome <> 'pending'`))[0], 15_000, 'audit row');
  assert.ok(row.iq_id !== null || row.outcome === 'rejected', `audit row ${JSON.stringify(row).slice(0, 300)}`);
  if (row.iq_id !== null) {
    assert.equal(row.iq_id.length, 256);
    assert.ok(row.iq_id.startsWith('huge-iiii'));
    assert.ok(row.iq_id.endsWith('…'));
  }
  const [biggest] = await sqlRows('select max(length(payload::text))::int as n from events');
  assert.ok(biggest!.n < 16_384, `largest stored event ${biggest!.n} characters`);
  const truncated = await sqlRows(`select payload->'truncated' as t from events where type = 'request.received' and payload->>'from' like 'alice@localhost/%'`);
  for (const t of truncated) assert.deepEqual(t.t, ['iqId']);
});

test('the events stream has the configured limits; a projector restarted with other limits updates them', async () => {
  const nc = await connect({ servers: stack.natsUrl });
  try {
    let config = (await streamInfo(nc, 'DBROKER_EVENTS')).config;
    assert.equal(config.max_age, 86_400_000 * 1_000_000);
    assert.equal(config.max_bytes, 104_857_600);
    assert.equal(config.discard, 'old');
    const before = (await streamInfo(nc, 'DBROKER_EVENTS')).state.messages;

    await stack.kill('projector');
    stack.env.projector!.EVENTS_STREAM_MAX_AGE_MS = '172800000';
    stack.env.projector!.EVENTS_STREAM_MAX_BYTES = '209715200';
    await stack.restart('projector');
    const info = await streamInfo(nc, 'DBROKER_EVENTS');
    config = info.config;
    assert.equal(config.max_age, 172_800_000 * 1_000_000);
    assert.equal(config.max_bytes, 209_715_200);
    assert.ok(info.state.messages >= before, 'the update kept the stored messages');
  } finally {
    await nc.close();
  }
});
