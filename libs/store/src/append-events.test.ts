import { test } from 'node:test';
import { sql } from 'drizzle-orm';
import assert from 'node:assert/strict';
import { createTempDatabase } from '../../../test/harness/postgres';
import { createDatabase } from './db';
import { appendEvent, appendEvents } from './event-store';
import { runMigrations } from './migrate';
import { MIGRATIONS_DIR } from './paths';
import { getAuditRow } from './queries';
import { answered, received } from './test-events';

test('appendEvents stores a batch in one transaction, once per event id, projections applied once', async () => {
  await using temp = await createTempDatabase();
  const handle = await createDatabase({ url: temp.url });
  try {
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    const r1 = received();
    const a1 = answered({ requestId: r1.requestId, latencyMs: 3 });
    const r2 = received();
    assert.equal(await appendEvent(handle.db, r2), true);
    // r2 was stored already, a1 appears twice in the batch (a redelivery arriving with the original).
    assert.deepEqual(await appendEvents(handle.db, [a1, r1, r2, a1]), [true, true, false, false]);
    const row = await getAuditRow(handle.db, r1.requestId);
    assert.equal(row?.outcome, 'result');
    assert.equal(row?.latencyMs, 3);
    assert.equal(row?.requester, r1.from);
    const countEvents = async () => ((await handle.db.execute(sql`select count(*)::int as n from events`)) as unknown as { rows: Array<{ n: number }> }).rows[0]!.n;
    assert.equal(await countEvents(), 3);
    // All or nothing: a batch whose projection fails leaves no event behind.
    const bad = received({ requestId: 'x'.repeat(10) });
    await handle.db.execute(sql`alter table audit_log rename to audit_log_away`);
    await assert.rejects(appendEvents(handle.db, [bad, received()]));
    await handle.db.execute(sql`alter table audit_log_away rename to audit_log`);
    assert.equal(await countEvents(), 3);
  } finally {
    await handle.close();
  }
});

test('appendEvents on PGlite gives the same audit rows (the request-event fast path on both drivers)', async () => {
  const handle = await createDatabase({});
  try {
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    const r1 = received({ traceId: 'a'.repeat(32) });
    const a1 = answered({ requestId: r1.requestId, latencyMs: 7, outcome: 'error', condition: 'item-not-found' });
    const a2 = answered();
    assert.deepEqual(await appendEvents(handle.db, [r1, a1, a2]), [true, true, true]);
    assert.deepEqual(await appendEvents(handle.db, [a1]), [false]);
    const row = await getAuditRow(handle.db, r1.requestId);
    assert.equal(row?.outcome, 'error');
    assert.equal(row?.condition, 'item-not-found');
    assert.equal(row?.traceId, 'a'.repeat(32));
    assert.equal(row?.requester, r1.from);
    assert.ok(row?.receivedAt instanceof Date && row.answeredAt instanceof Date);
    const lone = await getAuditRow(handle.db, a2.requestId);
    assert.equal(lone?.outcome, 'result');
    assert.equal(lone?.requester, null);
  } finally {
    await handle.close();
  }
});
