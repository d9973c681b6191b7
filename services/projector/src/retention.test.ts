import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectBus, createEventPublisher, type AuditEvent, type Bus } from '@dbroker/bus';
import { MIGRATIONS_DIR, appendEvents, createDatabase, getAuditRow, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { startProjector, type ProjectorService } from './app';
import { loadProjectorConfig } from './config';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const DAY = 86_400_000;

const received = (requestId: string, at: Date, extra: Partial<AuditEvent> = {}): AuditEvent =>
  ({
    id: randomUUID(),
    at: at.toISOString(),
    server: 'example.org',
    component: 'broker.example.org',
    type: 'request.received',
    requestId,
    from: 'alice@example.org/phone',
    to: 'alice@example.org',
    namespace: 'http://jabber.org/protocol/pubsub',
    iqType: 'get',
    iqId: 'q1',
    route: 'pubsub',
    subject: 'xmpp.example_2eorg.pubsub',
    ...extra,
  }) as AuditEvent;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('projector retention and field caps (NATS JetStream, Postgres)', () => {
  let nats: NatsServerHandle;
  let temp: TempDatabase;
  let database: DatabaseHandle;
  let bus: Bus;
  let service: ProjectorService;
  const metrics = createMetrics({ service: 'projector-retention-test' });

  before(async () => {
    [nats, temp] = await Promise.all([startNatsServer(), createTempDatabase()]);
    database = await createDatabase({ url: temp.url });
    await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR });
    bus = await connectBus({ url: nats.url, name: 'retention-test', logger: silent });
    // rows from before the retention period, and recent ones
    const now = Date.now();
    await appendEvents(database.db, [
      ...Array.from({ length: 25 }, (_, i) => received(`old-${i}`, new Date(now - 40 * DAY + i))),
      ...Array.from({ length: 5 }, (_, i) => received(`recent-${i}`, new Date(now - 2 * DAY + i))),
    ]);
    const config = loadProjectorConfig({
      NATS_URL: nats.url,
      DATABASE_URL: temp.url,
      EVENTS_STREAM: 'RT',
      EVENTS_SUBJECT_PREFIX: 'rt',
      EVENTS_STREAM_MAX_AGE_MS: '3600000',
      EVENTS_STREAM_MAX_BYTES: '1048576',
      AUDIT_RETENTION_DAYS: '30',
      EVENTS_RETENTION_DAYS: '30',
      RETENTION_INTERVAL_MS: '1000',
      RETENTION_BATCH_ROWS: '10',
      RETENTION_MAX_BATCHES: '1',
      LOG_LEVEL: 'silent',
    });
    service = await startProjector(config, { logger: createLogger({ service: 'projector-test', level: 'silent' }), metrics });
  });
  after(async () => {
    await service?.stop();
    await bus?.drain();
    await database?.close();
    await Promise.all([nats?.stop(), temp?.drop()]);
  });

  const count = async (table: string, where = 'true') => Number((await database.raw.query<{ n: number }>({ text: `select count(*)::int as n from ${table} where ${where}` }))[0]!.n);

  test('the projector creates the events stream with the configured limits', async () => {
    const config = (await (await jetstreamManager(bus.nc)).streams.info('RT')).config;
    assert.equal(config.max_age, 3_600_000 * 1_000_000);
    assert.equal(config.max_bytes, 1_048_576);
    assert.equal(config.discard, 'old');
  });

  test('its periodic sweep deletes old events and audit rows, 10 per sweep, and keeps the recent ones', async () => {
    assert.ok((await count('audit_log', "request_id like 'old-%'")) >= 15, 'not all gone at once: one batch of 10 per sweep');
    await waitFor('old rows deleted', async () => (await count('audit_log', "request_id like 'old-%'")) === 0 && (await count('events')) === 5);
    assert.equal(await count('audit_log', "request_id like 'recent-%'"), 5);
    // counted when the sweep in progress ends
    await waitFor('the counts', async () => /table="audit_log"[^}]*\} 25/.test(await metrics.registry.metrics()));
    const text = await metrics.registry.metrics();
    assert.match(text, /dbroker_retention_deleted_rows_total\{[^}]*table="audit_log"[^}]*\} 25/);
    assert.match(text, /dbroker_retention_deleted_rows_total\{[^}]*table="events"[^}]*\} 25/);
  });

  test('a 200 KB IQ id emitted by the ingress publisher arrives in audit_log cut to 256 characters, marked', async () => {
    const pub = createEventPublisher({ nc: bus.nc, prefix: 'rt', server: 'example.org', component: 'broker.example.org', logger: silent });
    const ev = pub.emit({ type: 'request.received', requestId: 'huge-id', from: 'alice@example.org/a', to: 'alice@example.org', namespace: 'urn:x', iqType: 'get', iqId: 'i'.repeat(200_000), route: 'pubsub', subject: 's' });
    assert.equal(await pub.flush(5000), true);
    await pub.stop(1000);
    await waitFor('the audit row', async () => (await getAuditRow(database.db, 'huge-id')) !== undefined);
    const row = await getAuditRow(database.db, 'huge-id');
    assert.equal(row!.iqId!.length, 256);
    assert.ok(row!.iqId!.endsWith('…'));
    const [stored] = await database.raw.query<{ payload: { iqId: string; truncated: string[] } }>({ text: 'select payload from events where id = $1', values: [ev.id] });
    assert.equal(stored!.payload.iqId.length, 256);
    assert.deepEqual(stored!.payload.truncated, ['iqId']);
  });

  test('an over-long event published by someone else on the stream is cut by the projector too', async () => {
    const forged = received('forged', new Date(), { from: `${'m'.repeat(100_000)}@example.org/x`, namespace: 'n'.repeat(100_000) });
    await jetstream(bus.nc).publish('rt.request_received', JSON.stringify(forged));
    await waitFor('the audit row', async () => (await getAuditRow(database.db, 'forged')) !== undefined);
    const row = await getAuditRow(database.db, 'forged');
    assert.equal(row!.requester!.length, 3071);
    assert.equal(row!.namespace!.length, 1024);
  });
});
