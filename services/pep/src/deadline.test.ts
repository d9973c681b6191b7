import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { createRequester, decodeReply, encodeEnvelope, requestSubject, type RequestEnvelope } from '@dbroker/bus';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { connectBus, type Bus } from '@dbroker/bus';
import { startPepWorker } from './app';
import { loadPepConfig } from './config';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

/**
 * A write never lands after the client was told the request failed. The request's deadline reaches the
 * worker's transaction: with a lock held by another connection past the deadline, the publish aborts
 * (lock_timeout from the time left) and answers an error before the deadline; releasing the lock later
 * writes nothing. Real NATS, real Postgres, the PEP worker as it is started in production.
 */

const OWNER = 'juliet@capulet.lit';
const NODE = 'urn:xmpp:deadline-test';
const publishIq = (id: string, itemId: string) =>
  `<iq xmlns='jabber:client' type='set' id='${id}' from='${OWNER}/balcony' to='${OWNER}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>` +
  `<publish node='${NODE}'><item id='${itemId}'><x xmlns='urn:test'>${itemId}</x></item></publish></pubsub></iq>`;

describe('request deadline reaches the PEP transaction (real Postgres, real NATS)', () => {
  let nats: NatsServerHandle;
  let temp: TempDatabase;
  let bus: Bus;
  let worker: { stop(): Promise<void> };
  let locker: import('pg').Client;
  const subject = requestSubject('xmpp', 'capulet.lit', 'pubsub');

  before(async () => {
    nats = await startNatsServer();
    temp = await createTempDatabase('dbroker_deadline');
    const config = loadPepConfig({ DATABASE_URL: temp.url, NATS_URL: nats.url, HTTP_PORT: '0', LOG_LEVEL: 'silent', DATABASE_DEADLINE_MARGIN_MS: '200' });
    worker = await startPepWorker(config, { logger: createLogger({ service: 'pep', level: 'silent' }), metrics: createMetrics({ service: 'pep' }), tracer: trace.getTracer('test') });
    bus = await connectBus({ url: nats.url, name: 'client', logger: { debug() {}, info() {}, warn() {}, error() {} } });
    locker = new pg.Client({ connectionString: temp.url });
    await locker.connect();
  });
  after(async () => {
    await locker.end();
    await worker.stop();
    await bus.drain();
    await temp.drop();
    await nats.stop();
  });

  const send = async (itemId: string, timeoutMs: number, requestId = randomUUID()) => {
    const env: RequestEnvelope = { v: 1, requestId, server: 'capulet.lit', namespace: 'http://jabber.org/protocol/pubsub', from: `${OWNER}/balcony`, to: OWNER, iqType: 'set', iqId: itemId, stanza: publishIq(itemId, itemId), deadline: Date.now() + timeoutMs };
    const started = Date.now();
    const outcome = await createRequester(bus.nc).request(subject, encodeEnvelope(env), { timeoutMs });
    return { outcome, ms: Date.now() - started, deadline: env.deadline };
  };
  const itemIds = async () => (await locker.query<{ item_id: string }>(`select item_id from pubsub_items order by item_id`)).rows.map((r) => r.item_id);
  const eventsOf = async (itemId: string) => Number((await locker.query(`select count(*)::int as n from pubsub_node_events where item_id = $1`, [itemId])).rows[0].n);

  test('a publish blocked by a lock past its deadline answers an error in time and never commits', async () => {
    const first = await send('before', 5_000);
    assert.equal(first.outcome.kind, 'reply');
    assert.deepEqual(await itemIds(), ['before']);

    // another connection holds the node row (every writer of the node takes it first) past the deadline
    await locker.query('BEGIN');
    await locker.query(`select id from pubsub_nodes where service = $1 and node = $2 for update`, [OWNER, NODE]);
    const late = await send('late', 1_000);
    assert.equal(late.outcome.kind, 'reply', `the worker answered (outcome ${late.outcome.kind}) rather than leaving the ingress to time out`);
    assert.ok(late.ms < 1_000, `answered before the deadline (${late.ms} ms)`);
    const reply = late.outcome.kind === 'reply' ? decodeReply(late.outcome.msg.data) : undefined;
    assert.ok(reply?.ok);
    // a failure envelope: the ingress answers the client internal-server-error (type wait)
    assert.equal(reply.value.failure?.condition, 'internal-server-error', JSON.stringify(reply.value));
    assert.match(reply.value.failure?.text ?? '', /request deadline near \((lock|statement)_timeout/);
    // the lock is held well past the deadline, then released: nothing may land now
    await new Promise((r) => setTimeout(r, Math.max(0, late.deadline + 500 - Date.now())));
    await locker.query('COMMIT');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await itemIds(), ['before']);
    assert.equal(await eventsOf('late'), 0, 'no event either');
  });

  test('an advisory lock, a request already too late to start, and the retry under the same request id', async () => {
    // a request whose deadline leaves less than the margin is refused before any transaction
    const tooLate = await send('too-late', 150);
    assert.notEqual(tooLate.outcome.kind, 'no-responders');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await eventsOf('too-late'), 0);

    // the same request id sent again after the lock is gone is applied once (the publish is idempotent by id)
    const requestId = randomUUID();
    await locker.query('BEGIN');
    await locker.query(`select id from pubsub_nodes where service = $1 and node = $2 for update`, [OWNER, NODE]);
    const blocked = await send('retried', 800, requestId);
    await locker.query('COMMIT');
    assert.equal(blocked.outcome.kind, 'reply');
    assert.equal(await eventsOf('retried'), 0);
    const again = await send('retried', 5_000, requestId);
    const third = await send('retried', 5_000, requestId);
    assert.equal(again.outcome.kind, 'reply');
    assert.equal(third.outcome.kind, 'reply');
    assert.equal(await eventsOf('retried'), 1, 'one publish for one request id');
  });
});
