import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { asc, count, eq } from 'drizzle-orm';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createDatabase, type Database, type DatabaseHandle } from './db';
import { appendEvent, rebuildProjections } from './event-store';
import { runMigrations } from './migrate';
import { MIGRATIONS_DIR } from './paths';
import { auditRowOf, grantRows, privilegeRow, projectionOf } from './projections';
import { getAuditRow, listAudit, listGrants, listPrivileges } from './queries';
import { auditLog, events, grants, privileges } from './schema';
import { adRejected, advertised, answered, iqRefused, privAdvertised, privRefused, received, rejected, streamProtocols } from './test-events';

const eventCount = async (db: Database) => (await db.select({ n: count() }).from(events))[0]?.n ?? 0;
const snapshot = async (db: Database) => ({
  grants: await db.select().from(grants).orderBy(asc(grants.server), asc(grants.component), asc(grants.namespace)),
  audit: await db.select().from(auditLog).orderBy(asc(auditLog.requestId)),
  privileges: await db.select().from(privileges).orderBy(asc(privileges.server), asc(privileges.component)),
});

describe('pure projection helpers', () => {
  test('grantRows keeps the last entry of a namespace listed twice and dedupes attributes', () => {
    const e = advertised({
      grants: [
        { namespace: 'urn:a', attributes: ['x'] },
        { namespace: 'urn:a', attributes: ['y', 'y'] },
      ],
    });
    const rows = grantRows(e);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]?.attributes, ['y']);
    assert.equal(rows[0]?.eventId, e.id);
  });

  test('privilegeRow and projectionOf: advertisements feed privileges, refusals only events', () => {
    const e = privAdvertised({ perms: { roster: 'none', message: 'outgoing', presence: 'none', iq: [{ namespace: 'urn:x', type: 'set' }] } });
    assert.deepEqual(privilegeRow(e), { server: e.server, component: e.component, version: e.version, perms: e.perms, advertisedAt: new Date(e.at), eventId: e.id });
    assert.equal(projectionOf('privilege.advertised'), 'privileges');
    assert.equal(projectionOf('privilege.refused'), null);
    assert.equal(projectionOf('stream.protocols'), null);
    assert.equal(projectionOf('iq.refused'), null);
  });

  test('auditRowOf: rejected without request id gets one from the event id', () => {
    const e = rejected();
    assert.equal(auditRowOf(e).requestId, `rejected:${e.id}`);
    assert.equal(auditRowOf(rejected({ requestId: 'r1' })).requestId, 'r1');
  });
});

describe('event store on Postgres', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  let db: Database;
  before(async () => {
    temp = await createTempDatabase();
    handle = await createDatabase({ url: temp.url });
    db = handle.db;
    await runMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  });
  after(async () => {
    await handle.close();
    await temp.drop();
  });

  test('request.received then request.answered make one complete audit row', async () => {
    const r = received({ traceId: 'a'.repeat(32) });
    const a = answered({ requestId: r.requestId, outcome: 'error', condition: 'item-not-found', reason: undefined, latencyMs: 3 });
    assert.equal(await appendEvent(db, r), true);
    assert.equal((await getAuditRow(db, r.requestId))?.outcome, 'pending');
    assert.equal(await appendEvent(db, a), true);
    const row = await getAuditRow(db, r.requestId);
    assert.deepEqual(row, {
      requestId: r.requestId,
      server: 'example.org',
      component: 'broker.example.org',
      requester: 'alice@example.org/phone',
      target: 'alice@example.org',
      namespace: 'http://jabber.org/protocol/pubsub',
      iqType: 'set',
      iqId: 'iq1',
      route: 'pubsub',
      subject: 'xmpp.example_2eorg.pubsub',
      outcome: 'error',
      condition: 'item-not-found',
      reason: null,
      latencyMs: 3,
      worker: 'pep-1',
      traceId: 'a'.repeat(32),
      receivedAt: new Date(r.at),
      answeredAt: new Date(a.at),
    });
  });

  test('the same event twice is stored and projected once', async () => {
    const add = advertised({ server: 'idem.example', replace: false, grants: [{ namespace: 'urn:x', attributes: [] }] });
    const replace = advertised({ server: 'idem.example', replace: true, grants: [{ namespace: 'urn:y', attributes: ['node'] }] });
    const before = await eventCount(db);
    assert.equal(await appendEvent(db, add), true);
    assert.equal(await appendEvent(db, replace), true);
    // redelivery of the older add: if it were projected again, urn:x would come back
    assert.equal(await appendEvent(db, add), false);
    assert.equal(await eventCount(db), before + 2);
    const rows = await listGrants(db, { server: 'idem.example' });
    assert.deepEqual(
      rows.map((g) => [g.namespace, g.attributes, g.eventId]),
      [['urn:y', ['node'], replace.id]],
    );

    const r = received();
    assert.equal(await appendEvent(db, r), true);
    assert.equal(await appendEvent(db, { ...r }), false);
    assert.equal((await db.select({ n: count() }).from(events).where(eq(events.id, r.id)))[0]?.n, 1);
  });

  test('answered before received gives the same row as received before answered', async () => {
    const r1 = received({ requestId: 'order-1', traceId: 'b'.repeat(32) });
    const a1 = answered({ requestId: 'order-1' });
    const r2 = { ...r1, id: randomUUID(), requestId: 'order-2' };
    const a2 = { ...a1, id: randomUUID(), requestId: 'order-2' };
    await appendEvent(db, r1);
    await appendEvent(db, a1);
    await appendEvent(db, a2);
    const half = await getAuditRow(db, 'order-2');
    assert.equal(half?.outcome, 'result');
    assert.equal(half?.requester, null);
    await appendEvent(db, r2);
    const one = await getAuditRow(db, 'order-1');
    const two = await getAuditRow(db, 'order-2');
    assert.ok(one && two);
    assert.deepEqual({ ...two, requestId: 'order-1' }, one);
  });

  test('grant.advertised: replace sets the whole set, add upserts', async () => {
    const server = 'grants.example';
    await appendEvent(db, advertised({ server, replace: true, grants: [{ namespace: 'urn:a', attributes: [] }, { namespace: 'urn:b', attributes: ['x'] }] }));
    await appendEvent(db, advertised({ server, replace: false, version: 'urn:xmpp:delegation:1', grants: [{ namespace: 'urn:b', attributes: ['y'] }] }));
    await appendEvent(db, advertised({ server, replace: false, grants: [{ namespace: 'urn:c', attributes: [] }] }));
    assert.deepEqual(
      (await listGrants(db, { server })).map((g) => [g.namespace, g.attributes, g.version]),
      [
        ['urn:a', [], 'urn:xmpp:delegation:2'],
        ['urn:b', ['y'], 'urn:xmpp:delegation:1'],
        ['urn:c', [], 'urn:xmpp:delegation:2'],
      ],
    );
    // another component of the same server is not touched by a replace
    await appendEvent(db, advertised({ server, component: 'other.grants.example', replace: true, grants: [{ namespace: 'urn:z', attributes: [] }] }));
    await appendEvent(db, advertised({ server, replace: true, grants: [{ namespace: 'urn:c', attributes: ['q'] }] }));
    assert.deepEqual(
      (await listGrants(db, { server })).map((g) => [g.component, g.namespace, g.attributes]),
      [
        ['broker.example.org', 'urn:c', ['q']],
        ['other.grants.example', 'urn:z', []],
      ],
    );
    // replace with no grants: the component has none left
    await appendEvent(db, advertised({ server, replace: true, grants: [] }));
    assert.deepEqual((await listGrants(db, { server, component: 'broker.example.org' })).length, 0);
  });

  test('request.rejected: with a request id it marks that request, without one it gets its own row', async () => {
    const r = received({ requestId: 'rej-1', from: 'mallory@example.org/x' });
    await appendEvent(db, r);
    await appendEvent(db, rejected({ requestId: 'rej-1', reason: 'filtering-attribute-missing', condition: 'bad-request', from: 'ignored@example.org' }));
    const row = await getAuditRow(db, 'rej-1');
    assert.equal(row?.outcome, 'rejected');
    assert.equal(row?.condition, 'bad-request');
    assert.equal(row?.reason, 'filtering-attribute-missing');
    assert.equal(row?.requester, 'mallory@example.org/x', 'facts of request.received are kept');
    assert.deepEqual(row?.receivedAt, new Date(r.at));

    const anon = rejected({ from: 'eve@example.org/a', namespace: 'urn:not-granted' });
    await appendEvent(db, anon);
    const anonRow = await getAuditRow(db, `rejected:${anon.id}`);
    assert.equal(anonRow?.outcome, 'rejected');
    assert.equal(anonRow?.requester, 'eve@example.org/a');
    assert.equal(anonRow?.namespace, 'urn:not-granted');
  });

  test('advertisement.rejected is only recorded in events', async () => {
    const auditBefore = (await db.select({ n: count() }).from(auditLog))[0]?.n;
    const grantsBefore = (await db.select({ n: count() }).from(grants))[0]?.n;
    const e = adRejected();
    assert.equal(await appendEvent(db, e), true);
    const stored = await db.select().from(events).where(eq(events.id, e.id));
    assert.equal(stored[0]?.type, 'advertisement.rejected');
    assert.deepEqual(stored[0]?.payload, e);
    assert.equal((await db.select({ n: count() }).from(auditLog))[0]?.n, auditBefore);
    assert.equal((await db.select({ n: count() }).from(grants))[0]?.n, grantsBefore);
  });

  test('privilege.advertised: one row per server and component, the newest advertisement wins', async () => {
    const first = privAdvertised({ server: 'priv.example', component: 'pubsub.priv.example', version: 'urn:xmpp:privilege:1', perms: { roster: 'none', message: 'none', presence: 'none', iq: [] } });
    const second = privAdvertised({ server: 'priv.example', component: 'pubsub.priv.example' });
    const other = privAdvertised({ server: 'priv.example', component: 'mam.priv.example' });
    assert.equal(await appendEvent(db, first), true);
    assert.equal(await appendEvent(db, second), true);
    assert.equal(await appendEvent(db, other), true);
    const rows = await listPrivileges(db, { server: 'priv.example' });
    assert.deepEqual(rows.map((r) => [r.component, r.version, r.perms.message, r.eventId]), [
      ['mam.priv.example', 'urn:xmpp:privilege:2', 'outgoing', other.id],
      ['pubsub.priv.example', 'urn:xmpp:privilege:2', 'outgoing', second.id],
    ]);
    assert.deepEqual(rows[1]?.perms, second.perms);
    assert.deepEqual(rows[1]?.advertisedAt, new Date(second.at));

    // an older advertisement delivered late does not overwrite the newer one
    const late = privAdvertised({ server: 'priv.example', component: 'pubsub.priv.example', at: new Date(Date.parse(second.at) - 60_000).toISOString(), perms: { roster: 'both', message: 'none', presence: 'none', iq: [] } });
    assert.equal(await appendEvent(db, late), true);
    assert.equal((await listPrivileges(db, { component: 'pubsub.priv.example' }))[0]?.eventId, second.id);
  });

  test('privilege.refused is only recorded in events', async () => {
    const before = await snapshot(db);
    const e = privRefused();
    assert.equal(await appendEvent(db, e), true);
    const stored = await db.select().from(events).where(eq(events.id, e.id));
    assert.equal(stored[0]?.type, 'privilege.refused');
    assert.deepEqual(stored[0]?.payload, e);
    assert.deepEqual(await snapshot(db), before);
  });

  test('stream.protocols and iq.refused are only recorded in events', async () => {
    const before = await snapshot(db);
    const protocols = streamProtocols({ privilege: null });
    const refused = iqRefused();
    assert.equal(await appendEvent(db, protocols), true);
    assert.equal(await appendEvent(db, refused), true);
    for (const e of [protocols, refused]) {
      const stored = await db.select().from(events).where(eq(events.id, e.id));
      assert.equal(stored[0]?.type, e.type);
      assert.deepEqual(stored[0]?.payload, e);
    }
    assert.deepEqual(await snapshot(db), before);
  });

  test('listAudit: newest first, a bare JID matches all its resources, LIKE wildcards are literal', async () => {
    await appendEvent(db, received({ requestId: 'la-1', from: 'bob@example.org/one' }));
    await appendEvent(db, received({ requestId: 'la-2', from: 'bob@example.org/two' }));
    await appendEvent(db, received({ requestId: 'la-3', from: 'bobby@example.org/one' }));
    await appendEvent(db, received({ requestId: 'la-4', from: 'b_b@example.org/one' }));
    assert.deepEqual((await listAudit(db, { limit: 10, requester: 'bob@example.org' })).map((r) => r.requestId), ['la-2', 'la-1']);
    assert.deepEqual((await listAudit(db, { limit: 10, requester: 'bob@example.org/one' })).map((r) => r.requestId), ['la-1']);
    assert.deepEqual((await listAudit(db, { limit: 10, requester: 'b_b@example.org' })).map((r) => r.requestId), ['la-4']);
    assert.equal((await listAudit(db, { limit: 2 })).length, 2);
    assert.equal((await listAudit(db, { limit: 2 }))[0]?.requestId, 'la-4');
  });

  test('concurrent appends of the same event: exactly one wins', async () => {
    const e = advertised({ server: 'race.example', replace: false });
    const results = await Promise.all(Array.from({ length: 8 }, () => appendEvent(db, e)));
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('a failing projection rolls the event back too', async () => {
    // a request id longer than btree can index makes the audit_log insert fail after the events insert
    const e = received({ requestId: randomBytes(15_000).toString('base64') });
    await assert.rejects(appendEvent(db, e));
    assert.equal((await db.select({ n: count() }).from(events).where(eq(events.id, e.id)))[0]?.n, 0);
  });

  test('rebuildProjections reproduces the live projections exactly (last: replays every event above)', async () => {
    const live = await snapshot(db);
    assert.ok(live.grants.length > 0 && live.audit.length > 0 && live.privileges.length > 0);
    const total = await eventCount(db);
    const result = await rebuildProjections(db, { pageSize: 7 });
    assert.equal(result.events, total);
    assert.equal(result.skipped, 0);
    assert.equal(result.grants, live.grants.length);
    assert.equal(result.auditLog, live.audit.length);
    assert.equal(result.privileges, live.privileges.length);
    assert.deepEqual(await snapshot(db), live);

    // only: grants -> audit_log is left alone
    await db.delete(auditLog).where(eq(auditLog.requestId, 'la-1'));
    await db.delete(grants);
    const partial = await rebuildProjections(db, { only: ['grants'] });
    assert.deepEqual(partial.projections, ['grants']);
    const after = await snapshot(db);
    assert.deepEqual(after.grants, live.grants);
    assert.equal(after.audit.length, live.audit.length - 1);
    await rebuildProjections(db, { only: ['audit_log'] });
    assert.deepEqual(await snapshot(db), live);

    // only: privileges
    await db.delete(privileges);
    const priv = await rebuildProjections(db, { only: ['privileges'] });
    assert.deepEqual(priv.projections, ['privileges']);
    assert.deepEqual(await snapshot(db), live);
  });
});

describe('event store on PGlite', () => {
  test('append, idempotency and rebuild work in memory', async () => {
    const handle = await createDatabase();
    try {
      await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
      const r = received();
      const a = answered({ requestId: r.requestId });
      assert.equal(await appendEvent(handle.db, a), true);
      assert.equal(await appendEvent(handle.db, r), true);
      assert.equal(await appendEvent(handle.db, r), false);
      await appendEvent(handle.db, advertised());
      const live = await snapshot(handle.db);
      assert.equal(live.audit[0]?.outcome, 'result');
      assert.equal(live.audit[0]?.requester, r.from);
      const result = await rebuildProjections(handle.db);
      assert.equal(result.events, 3);
      assert.deepEqual(await snapshot(handle.db), live);
    } finally {
      await handle.close();
    }
  });
});
