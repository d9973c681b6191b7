import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createTempDatabase } from '../../../test/harness/postgres';
import { createDatabase, type DatabaseHandle } from './db';
import { runMigrations } from './migrate';
import { MIGRATIONS_DIR } from './paths';

/** 0008 folds the JIDs stored before one normalised form was enforced, on Postgres and PGlite. */

const TAG = '0008_normalise_jids';

/** The repository's migrations before 0008 (a copy whose journal stops there). */
async function migrationsBefore(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-mig0008-'));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: Array<{ idx: number; tag: string }> };
  const mine = journal.entries.find((e) => e.tag === TAG);
  assert.ok(mine, `${TAG} is in the journal`);
  journal.entries = journal.entries.filter((e) => e.idx < mine.idx);
  await writeFile(journalPath, JSON.stringify(journal));
  return dir;
}

async function scenario(handle: DatabaseHandle) {
  const before = await migrationsBefore();
  try {
    await runMigrations(handle.db, { migrationsDir: before });
  } finally {
    await rm(before, { recursive: true, force: true });
  }
  const q = <T>(text: string, values: unknown[] = []) => handle.raw.query<T>({ text, values });
  const at = new Date('2026-01-01T00:00:00Z');
  const [n1] = await q<{ id: number }>(`insert into pubsub_nodes (service, node, config, created_at) values ('Alice@Example.org', 'n', '{}'::jsonb, $1) returning id`, [at]);
  // a second live node of the same account under another spelling: created later, so it becomes a tombstone
  const [n2] = await q<{ id: number }>(`insert into pubsub_nodes (service, node, config, created_at) values ('alice@example.org', 'n', '{}'::jsonb, $1) returning id`, [new Date(at.getTime() + 1000)]);
  await q(`insert into pubsub_items (node_id, item_id, payload, publisher, published_seq, published_at) values ($1, 'i', '<x/>', 'ALICE@example.org/Phone', 1, $2), ($3, 'j', '<y/>', null, 2, $2)`, [n1!.id, at, n2!.id]);
  await q(
    `insert into pubsub_affiliations (node_id, jid, affiliation, updated_at) values ($1, 'Mallory@Example.org', 'outcast', $2), ($1, 'mallory@example.org', 'member', $3), ($1, 'Bob@Example.ORG.', 'member', $2)`,
    [n1!.id, at, new Date(at.getTime() + 5000)],
  );
  await q(
    `insert into pubsub_subscriptions (node_id, jid, subid, state, created_at) values ($1, 'mallory@example.org/Res', 's1', 'subscribed', $2), ($1, 'Carol@Example.org/Phone', 's2', 'subscribed', $2), ($1, 'carol@example.org/Phone', 's3', 'subscribed', $3)`,
    [n1!.id, at, new Date(at.getTime() + 1)],
  );
  await q(`insert into roster_cache (owner, items, fetched_at, expires_at) values ('Alice@Example.org', '[]'::jsonb, $1, $1), ('bob@example.org', '[]'::jsonb, $1, $1)`, [at]);

  await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });

  const nodes = await q<{ id: number; service: string; deleted: boolean }>(`select id, service, deleted_at is not null as deleted from pubsub_nodes order by id`);
  assert.deepEqual(nodes.map((r) => [Number(r.id), r.service, r.deleted]), [[Number(n1!.id), 'alice@example.org', false], [Number(n2!.id), 'alice@example.org', true]]);
  assert.deepEqual(await q(`select item_id, publisher from pubsub_items order by item_id`), [{ item_id: 'i', publisher: 'alice@example.org/Phone' }], "the tombstone's items are gone; the resource keeps its case");
  assert.deepEqual(await q(`select jid, affiliation from pubsub_affiliations order by jid`), [
    { jid: 'bob@example.org', affiliation: 'member' },
    { jid: 'mallory@example.org', affiliation: 'outcast' },
  ]);
  assert.deepEqual(await q(`select jid, subid from pubsub_subscriptions order by jid`), [{ jid: 'carol@example.org/Phone', subid: 's2' }], "the outcast's subscription ended; the older of two spellings stayed");
  assert.deepEqual(await q(`select owner from roster_cache order by owner`), [{ owner: 'bob@example.org' }]);
  assert.deepEqual(await q(`select proname from pg_proc where proname = 'dbroker_fold_jid'`), [], 'the helper function is dropped');
}

describe('migration 0008: stored JIDs folded', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  test('on Postgres', async () => {
    const temp = await createTempDatabase('dbroker_mig8');
    closers.push(() => temp.drop());
    const handle = await createDatabase({ url: temp.url, poolMax: 2 });
    closers.push(() => handle.close());
    await scenario(handle);
  });

  test('on PGlite', async () => {
    const handle = await createDatabase();
    closers.push(() => handle.close());
    await scenario(handle);
  });
});
