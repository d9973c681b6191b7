import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createDatabase, type DatabaseHandle } from './db';
import { appendEvents, rebuildProjections } from './event-store';
import { runMigrations } from './migrate';
import { MIGRATIONS_DIR } from './paths';
import { listGrants, listPrivileges } from './queries';
import { deleteOldAuditRows, deleteOldEvents, sweepAuditRetention } from './retention';
import { advertised, answered, privAdvertised, received, rejected } from './test-events';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00.000Z');
const ago = (days: number, plusMs = 0) => new Date(NOW - days * DAY + plusMs).toISOString();

const count = async (h: DatabaseHandle, table: string) => Number((await h.raw.query<{ n: number }>({ text: `select count(*)::int as n from ${table}` }))[0]!.n);

describe('audit retention on Postgres', () => {
  let temp: TempDatabase;
  let h: DatabaseHandle;
  before(async () => {
    temp = await createTempDatabase();
    h = await createDatabase({ url: temp.url });
    await runMigrations(h.db, { migrationsDir: MIGRATIONS_DIR });
  });
  after(async () => {
    await h?.close();
    await temp?.drop();
  });

  test('old rows go in bounded batches, recent rows and the sources of current grants and privileges stay', async () => {
    await h.raw.query({ text: 'truncate events, audit_log, grants, privileges' });
    // the grants and privileges as advertised long ago (still current), and a superseded advertisement before them
    const superseded = advertised({ at: ago(200), grants: [{ namespace: 'urn:old', attributes: [] }] });
    const current = advertised({ at: ago(150), grants: [{ namespace: 'urn:current', attributes: [] }] });
    const perms = privAdvertised({ at: ago(150, 1) });
    const old = Array.from({ length: 30 }, (_, i) => received({ requestId: `old-${i}`, at: ago(100, i) }));
    const oldAnswers = old.map((e, i) => answered({ requestId: e.requestId, at: ago(100, i + 1) }));
    const oldRejected = Array.from({ length: 5 }, (_, i) => rejected({ requestId: `rej-${i}`, at: ago(95, i) }));
    const recent = Array.from({ length: 10 }, (_, i) => received({ requestId: `new-${i}`, at: ago(10, i) }));
    await appendEvents(h.db, [superseded, current, perms]);
    await appendEvents(h.db, [...old, ...oldAnswers, ...oldRejected, ...recent]);
    assert.equal(await count(h, 'events'), 3 + 30 + 30 + 5 + 10);
    assert.equal(await count(h, 'audit_log'), 30 + 5 + 10);
    const grantsBefore = await listGrants(h.db);

    // one sweep: at most 2 batches of 7 rows per table
    const bounds = { batchRows: 7, maxBatches: 2 };
    const first = await sweepAuditRetention(h.raw, { eventsDays: 90, auditDays: 90, bounds, now: () => new Date(NOW) });
    assert.deepEqual(first.events, { deleted: 14, batches: 2, more: true });
    assert.deepEqual(first.audit_log, { deleted: 14, batches: 2, more: true });
    assert.equal(await count(h, 'events'), 78 - 14);

    // the next sweeps finish the job
    let events = 14;
    let audit = 14;
    for (let i = 0; i < 10; i++) {
      const r = await sweepAuditRetention(h.raw, { eventsDays: 90, auditDays: 90, bounds, now: () => new Date(NOW) });
      events += r.events!.deleted;
      audit += r.audit_log!.deleted;
    }
    assert.equal(events, 1 + 30 + 30 + 5, 'the superseded advertisement and every old request event');
    assert.equal(audit, 35);
    assert.equal(await count(h, 'audit_log'), 10);
    const left = await h.raw.query<{ id: string }>({ text: 'select id from events order by seq' });
    assert.deepEqual(left.map((r) => r.id), [current.id, perms.id, ...recent.map((e) => e.id)]);

    // a rebuild from what is retained gives the same grants and privileges
    const privsBefore = await listPrivileges(h.db);
    await rebuildProjections(h.db);
    assert.deepEqual(await listGrants(h.db), grantsBefore);
    assert.deepEqual(await listPrivileges(h.db), privsBefore);
    assert.equal(await count(h, 'audit_log'), 10);
  });

  test('0 days keeps everything', async () => {
    await h.raw.query({ text: 'truncate events, audit_log, grants, privileges' });
    await appendEvents(h.db, [received({ at: ago(1000) })]);
    const r = await sweepAuditRetention(h.raw, { eventsDays: 0, auditDays: 0, bounds: { batchRows: 10, maxBatches: 10 }, now: () => new Date(NOW) });
    assert.deepEqual(r, { events: null, audit_log: null });
    assert.equal(await count(h, 'events'), 1);
  });

  test('two replicas sweeping at once delete every old row exactly once, without waiting on each other', async () => {
    await h.raw.query({ text: 'truncate events, audit_log, grants, privileges' });
    const old = Array.from({ length: 400 }, (_, i) => received({ requestId: `o-${i}`, at: ago(100, i) }));
    await appendEvents(h.db, old);
    const other = await createDatabase({ url: temp.url });
    try {
      const cutoff = new Date(NOW - 90 * DAY);
      const bounds = { batchRows: 25, maxBatches: 100 };
      const [a, b] = await Promise.all([deleteOldEvents(h.raw, cutoff, bounds), deleteOldEvents(other.raw, cutoff, bounds)]);
      assert.equal(a.deleted + b.deleted, 400);
      const [c, d] = await Promise.all([deleteOldAuditRows(h.raw, cutoff, bounds), deleteOldAuditRows(other.raw, cutoff, bounds)]);
      assert.equal(c.deleted + d.deleted, 400);
      assert.equal(await count(h, 'events'), 0);
    } finally {
      await other.close();
    }
  });

  test('the deletes use the retention indexes', async () => {
    const plan = async (text: string) =>
      (await h.raw.transaction(async (tx) => {
        await tx.query({ text: 'set local enable_seqscan = off' });
        return await tx.query<{ 'QUERY PLAN': string }>({ text: `explain ${text}` });
      })).map((r) => r['QUERY PLAN']).join('\n');
    assert.match(await plan(`select id from events where at < now() order by at limit 10`), /events_at_idx/);
    assert.match(await plan(`select request_id from audit_log where coalesce(received_at, answered_at) < now() order by coalesce(received_at, answered_at) limit 10`), /audit_log_retention_idx/);
  });
});

describe('audit retention on PGlite', () => {
  test('a sweep deletes old rows and keeps recent ones', async () => {
    const h = await createDatabase({});
    try {
      await runMigrations(h.db, { migrationsDir: MIGRATIONS_DIR });
      await appendEvents(h.db, [received({ requestId: 'old', at: ago(100) }), received({ requestId: 'new', at: ago(1) })]);
      const r = await sweepAuditRetention(h.raw, { eventsDays: 30, auditDays: 30, bounds: { batchRows: 10, maxBatches: 2 }, now: () => new Date(NOW) });
      assert.equal(r.events!.deleted, 1);
      assert.equal(r.audit_log!.deleted, 1);
      assert.deepEqual((await h.raw.query<{ request_id: string }>({ text: 'select request_id from audit_log' })).map((x) => x.request_id), ['new']);
    } finally {
      await h.close();
    }
  });
});
