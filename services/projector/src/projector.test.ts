import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type AuditEvent, type BusLogger } from '@dbroker/bus';
import { MIGRATIONS_DIR, createDatabase, getAuditRow, listGrants, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createLogger, createMetrics } from '@dbroker/telemetry';
import { sql } from 'drizzle-orm';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { startProjector } from './app';
import { loadProjectorConfig } from './config';
import { decodeAuditEvent } from './decode';
import { createProjector, type Projector, type ProjectorSettings } from './projector';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// --- fixtures -------------------------------------------------------------------------------------------

let clock = Date.parse('2026-02-01T00:00:00.000Z');
const base = () => ({ id: randomUUID(), at: new Date((clock += 1000)).toISOString(), server: 'example.org', component: 'broker.example.org' });
const received = (requestId: string, extra: Partial<AuditEvent> = {}): AuditEvent =>
  ({
    ...base(),
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
const answered = (requestId: string): AuditEvent => ({ ...base(), type: 'request.answered', requestId, outcome: 'result', latencyMs: 4, worker: 'pep-1' });

/** Records log lines so that tests can see what the projector reported. */
function recordingLogger(): BusLogger & { lines: Array<{ level: string; msg: string | undefined; obj: object }> } {
  const lines: Array<{ level: string; msg: string | undefined; obj: object }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, msg, obj });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// --------------------------------------------------------------------------------------------------------

test('decodeAuditEvent: JSON and schema errors are reasons, not exceptions', () => {
  const enc = new TextEncoder();
  assert.deepEqual(decodeAuditEvent(enc.encode('{nope')), { ok: false, reason: 'not JSON' });
  const bad = decodeAuditEvent(enc.encode(JSON.stringify({ type: 'request.received', id: 'x' })));
  assert.equal(bad.ok, false);
  const ev = received('r');
  assert.deepEqual(decodeAuditEvent(enc.encode(JSON.stringify(ev))), { ok: true, event: ev });
});

describe('projector against NATS JetStream and Postgres', () => {
  let nats: NatsServerHandle;
  let temp: TempDatabase;
  let database: DatabaseHandle;
  let nc: NatsConnection;
  const running: Projector[] = [];

  before(async () => {
    [nats, temp] = await Promise.all([startNatsServer(), createTempDatabase()]);
    database = await createDatabase({ url: temp.url });
    await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR });
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await nc.drain();
    await database.close();
    await Promise.all([nats.stop(), temp.drop()]);
  });

  /** Each test has its own stream, so that a durable created later does not replay other tests' events. */
  const settings = (name: string, over: Partial<ProjectorSettings> = {}): ProjectorSettings => ({
    EVENTS_STREAM: `T_${name}`,
    EVENTS_SUBJECT_PREFIX: `t.${name}`,
    PROJECTOR_DURABLE: 'projector',
    PROJECTOR_BATCH: 10,
    PROJECTOR_RETRY_DELAY_MS: 150,
    PROJECTOR_ACK_WAIT_MS: 30_000,
    ...over,
  });
  const start = async (config: ProjectorSettings, db = database.db, logger: BusLogger = recordingLogger()) => {
    const p = createProjector({ nc, db, config, logger });
    await p.start();
    running.push(p);
    return p;
  };
  const stop = async (p: Projector) => {
    await p.stop();
    running.splice(running.indexOf(p), 1);
  };
  const publish = async (config: ProjectorSettings, ev: AuditEvent, msgID = ev.id) =>
    await jetstream(nc).publish(eventSubject(config.EVENTS_SUBJECT_PREFIX, ev.type), JSON.stringify(ev), { msgID });
  const consumerInfo = async (config: ProjectorSettings) => (await jetstreamManager(nc)).consumers.info(config.EVENTS_STREAM, config.PROJECTOR_DURABLE);
  const settled = async (config: ProjectorSettings) => {
    const info = await consumerInfo(config);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  test('creates the stream (file storage, <prefix>.>, 2 min duplicate window) and a durable explicit-ack consumer', async () => {
    const config = settings('setup');
    await start(config);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(config.EVENTS_STREAM);
    assert.deepEqual(info.config.subjects, ['t.setup.>']);
    assert.equal(info.config.storage, 'file');
    assert.equal(info.config.duplicate_window, 120_000_000_000);
    const ci = await consumerInfo(config);
    assert.equal(ci.config.durable_name, 'projector');
    assert.equal(ci.config.ack_policy, 'explicit');
  });

  test('published events become audit rows; redeliveries are counted as duplicates and change nothing', async () => {
    const config = settings('e2e');
    const p = await start(config);
    const r = received('e2e-1', { traceId: 'c'.repeat(32) } as Partial<AuditEvent>);
    const a = answered('e2e-1');
    await publish(config, a); // answered first: the projection does not care
    await publish(config, r);
    await waitFor('the audit row', async () => (await getAuditRow(database.db, 'e2e-1'))?.requester === 'alice@example.org/phone');
    const row = await getAuditRow(database.db, 'e2e-1');
    assert.equal(row?.outcome, 'result');
    assert.equal(row?.traceId, 'c'.repeat(32));
    assert.deepEqual(row?.receivedAt, new Date(r.at));

    const dup = await publish(config, r); // same msgID within the window: JetStream drops it
    assert.equal(dup.duplicate, true);
    await publish(config, r, randomUUID()); // past the window (other msgID): the projector sees it again
    await waitFor('the duplicate', () => p.counters().duplicates === 1);
    assert.deepEqual(p.counters(), { projected: 2, duplicates: 1, invalid: 0, failed: 0, retried: 0 });
    await waitFor('acks', () => settled(config));
    assert.equal(p.lagging().pending, 0);
    assert.equal(p.lagging().failing, false);
  });

  test('invalid messages are acked, counted and logged; the projector keeps going', async () => {
    const config = settings('invalid');
    const logger = recordingLogger();
    const p = await start(config, database.db, logger);
    const js = jetstream(nc);
    await js.publish(`${config.EVENTS_SUBJECT_PREFIX}.request_received`, 'not json');
    await js.publish(`${config.EVENTS_SUBJECT_PREFIX}.request_received`, JSON.stringify({ type: 'request.received', id: 'nope' }));
    await publish(config, received('after-invalid'));
    await waitFor('the valid event', async () => (await getAuditRow(database.db, 'after-invalid')) !== undefined);
    assert.equal(p.counters().invalid, 2);
    assert.equal(p.counters().projected, 1);
    await waitFor('acks', () => settled(config));
    assert.equal((await consumerInfo(config)).num_redelivered, 0);
    assert.equal(logger.lines.filter((l) => l.msg === 'invalid audit event dropped').length, 2);
  });

  test('a database error leads to a nak; the event is redelivered and projected once the database is back', async () => {
    const config = settings('dberror');
    const logger = recordingLogger();
    const p = await start(config, database.db, logger);
    const ev = received('db-error-1');
    await database.db.execute(sql`alter table audit_log rename to audit_log_away`);
    try {
      await publish(config, ev);
      await waitFor('a failed attempt', () => p.counters().retried >= 2, 15_000); // at least one redelivery failed too
      assert.equal(p.lagging().failing, true);
      assert.match(p.lagging().lastError ?? '', /audit_log/);
      assert.equal(p.counters().projected, 0);
      // the event insert was rolled back with the projection
      const stored = await database.db.execute(sql`select count(*)::int as n from events where id = ${ev.id}`);
      assert.equal((stored as { rows: Array<{ n: number }> }).rows[0]?.n, 0);
      assert.ok(logger.lines.some((l) => l.msg === 'cannot store audit event; will retry'));
    } finally {
      await database.db.execute(sql`alter table audit_log_away rename to audit_log`);
    }
    await waitFor('the redelivered event', async () => (await getAuditRow(database.db, 'db-error-1')) !== undefined, 15_000);
    assert.equal(p.counters().projected, 1);
    assert.equal(p.lagging().failing, false);
    await waitFor('acks', () => settled(config));
    // one message in the stream, attempted at least twice: it came back through JetStream after the nak
    const attempts = logger.lines.filter((l) => l.msg === 'cannot store audit event; will retry' && (l.obj as { eventId?: string }).eventId === ev.id);
    assert.ok(attempts.length >= 2, `attempts: ${attempts.length}`);
  });

  test('no loss across replicas: a projector with a dead pool naks, a fresh one gets the redelivery', async () => {
    const config = settings('replica');
    const dead = await createDatabase({ url: temp.url });
    await dead.close(); // every query now fails without a SQLSTATE
    const first = await start(config, dead.db);
    const ev = received('replica-1');
    await publish(config, ev);
    await waitFor('the nak', () => first.counters().retried >= 1);
    await stop(first);
    const fresh = await createDatabase({ url: temp.url });
    try {
      const second = await start(config, fresh.db);
      await waitFor('the redelivered event', async () => (await getAuditRow(database.db, 'replica-1')) !== undefined);
      assert.equal(second.counters().projected, 1);
      await waitFor('acks', () => settled(config));
      await stop(second);
    } finally {
      await fresh.close();
    }
  });

  test('an event the database refuses for good is terminated and does not block the stream', async () => {
    const config = settings('poison');
    const p = await start(config);
    // a NUL character Postgres refuses in text (SQLSTATE 22021), the same on every attempt (over-long
    // fields, the old poison, are cut to their caps before they reach the database)
    await publish(config, received(`poison\u0000${randomBytes(4).toString('hex')}`));
    await publish(config, received('after-poison'));
    await waitFor('the next event', async () => (await getAuditRow(database.db, 'after-poison')) !== undefined);
    assert.equal(p.counters().failed, 1);
    assert.equal(p.counters().retried, 0);
    await waitFor('acks', () => settled(config)); // terminated counts as done
  });

  test('grants flow through in stream order; stop and restart continue where the durable left off', async () => {
    const config = settings('restart');
    const server = 'restart.example';
    const grant = (namespace: string, replace: boolean): AuditEvent => ({
      ...base(),
      server,
      type: 'grant.advertised',
      version: 'urn:xmpp:delegation:2',
      grants: [{ namespace, attributes: [] }],
      replace,
    });
    const p1 = await start(config);
    await publish(config, grant('urn:a', true));
    await publish(config, grant('urn:b', false));
    await waitFor('two grants', async () => (await listGrants(database.db, { server })).length === 2);
    await stop(p1);
    await publish(config, grant('urn:c', true)); // published while no projector runs
    const p2 = await start(config);
    await waitFor('the replace', async () => (await listGrants(database.db, { server })).map((g) => g.namespace).join() === 'urn:c');
    assert.equal(p2.counters().projected, 1, 'only the new event was delivered');
    await waitFor('acks', () => settled(config));
  });

  test('a deleted consumer is recreated; the replay is absorbed as duplicates', async () => {
    const config = settings('recreate');
    const logger = recordingLogger();
    const p = await start(config, database.db, logger);
    await publish(config, received('recreate-1'));
    await waitFor('the first event', () => p.counters().projected === 1);
    await (await jetstreamManager(nc)).consumers.delete(config.EVENTS_STREAM, config.PROJECTOR_DURABLE);
    await waitFor('the consumer again', async () => (await consumerInfo(config).catch(() => null)) !== null);
    await publish(config, received('recreate-2'));
    await waitFor('the second event', () => p.counters().projected === 2);
    await waitFor('the replayed first event', () => p.counters().duplicates === 1);
    assert.ok(logger.lines.some((l) => l.msg === 'events consumer lost; recreating it'));
  });

  test('startProjector: opens its own NATS and database from config, is ready, counts in metrics, stops cleanly', async () => {
    const config = loadProjectorConfig({
      NATS_URL: nats.url,
      DATABASE_URL: temp.url,
      EVENTS_STREAM: 'T_app',
      EVENTS_SUBJECT_PREFIX: 't.app',
      PROJECTOR_DURABLE: 'app',
      LOG_LEVEL: 'silent',
    });
    const metrics = createMetrics({ service: 'projector-test' });
    const service = await startProjector(config, { logger: createLogger({ service: 'projector-test', level: 'silent' }), metrics });
    try {
      assert.equal(service.database.kind, 'postgres');
      assert.equal(service.isReady(), true);
      await jetstream(nc).publish('t.app.request_received', JSON.stringify(received('app-1')));
      await waitFor('the audit row', async () => (await getAuditRow(database.db, 'app-1')) !== undefined);
      const text = await metrics.registry.metrics();
      assert.match(text, /dbroker_projector_messages_total\{[^}]*outcome="projected"[^}]*\} 1/);
    } finally {
      await service.stop();
    }
    assert.equal(service.isReady(), false);
  });

  test('npm run db:rebuild replays the stored events into identical projections', async () => {
    const before = await database.db.execute(sql`select count(*)::int as n from audit_log`);
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', 'services/projector/src/rebuild.ts', '--only', 'audit_log,grants'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: temp.url },
    });
    const result = JSON.parse(stdout) as { events: number; auditLog: number; grants: number; migrationsApplied: string[] };
    assert.deepEqual(result.migrationsApplied, []);
    assert.equal(result.auditLog, (before as { rows: Array<{ n: number }> }).rows[0]?.n);
    assert.ok(result.events > 0);
    assert.equal(result.grants, (await listGrants(database.db, {})).length);
  });
});
