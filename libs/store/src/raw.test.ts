import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createDatabase, rawDbOf, type DatabaseHandle } from './db';
import { createNodePgRawDb, type RawDb } from './raw';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const SETUP = 'create table raw_t (id bigserial primary key, v text not null unique, at timestamptz not null, doc jsonb)';
const insert = { name: 'raw_test_insert', text: 'insert into raw_t (v, at, doc) values ($1, $2, $3::text::jsonb) returning id, v, at, doc' };
const count = { name: 'raw_test_count', text: 'select count(*)::int as n from raw_t' };
const countOf = async (raw: RawDb) => (await raw.query<{ n: number }>(count))[0]?.n;

/** The same behaviour on both drivers. */
function contract(name: string, open: () => Promise<{ raw: RawDb; close(): Promise<void> }>) {
  describe(`raw queries on ${name}`, () => {
    let raw: RawDb;
    let close: () => Promise<void>;
    before(async () => {
      ({ raw, close } = await open());
      await raw.query({ text: SETUP });
    });
    after(async () => {
      await close();
    });

    test('named statements run again and again with their values; types come back as the driver parses them', async () => {
      const at = new Date('2024-05-06T07:08:09.123Z');
      for (const v of ['a', 'b', 'c']) {
        const [row] = await raw.query<{ id: string | number; v: string; at: Date; doc: unknown }>({ ...insert, values: [v, at, JSON.stringify({ v, n: [1] })] });
        assert.equal(row?.v, v);
        assert.ok(row?.at instanceof Date);
        assert.equal(row.at.getTime(), at.getTime());
        assert.deepEqual(row.doc, { v, n: [1] });
        assert.ok(Number(row.id) > 0);
      }
      const rows = await raw.query<{ v: string }>({ name: 'raw_test_by_vs', text: 'select v from raw_t where v = any($1::text[]) order by v', values: [['c', 'a', "o'q"]] });
      assert.deepEqual(
        rows.map((r) => r.v),
        ['a', 'c'],
      );
    });

    test('a transaction commits what it wrote; a throw rolls all of it back and is rethrown', async () => {
      const before = await countOf(raw);
      assert.equal(
        await raw.transaction(async (tx) => {
          await tx.query({ ...insert, values: ['t1', new Date(), null] });
          return 'done';
        }),
        'done',
      );
      await assert.rejects(
        raw.transaction(async (tx) => {
          await tx.query({ ...insert, values: ['t2', new Date(), null] });
          throw new Error('boom');
        }),
        /boom/,
      );
      // a failed statement aborts the transaction; the connection is rolled back, not left aborted
      await assert.rejects(
        raw.transaction(async (tx) => {
          await tx.query({ ...insert, values: ['t3', new Date(), null] });
          await tx.query({ ...insert, values: ['t1', new Date(), null] });
        }),
        (err: { code?: string }) => err.code === '23505',
      );
      assert.equal(await countOf(raw), (before ?? 0) + 1);
    });
  });
}

describe('raw facility', () => {
  let temp: TempDatabase;
  before(async () => {
    temp = await createTempDatabase('dbroker_raw');
  });
  after(async () => {
    await temp.drop();
  });

  contract('node-postgres', async () => {
    const handle = await createDatabase({ url: temp.url, poolMax: 2 });
    assert.equal(rawDbOf(handle.db), handle.raw);
    return handle;
  });

  contract('PGlite', async () => {
    const handle = await createDatabase();
    assert.equal(rawDbOf(handle.db), handle.raw);
    return handle;
  });

  test('node-postgres: a pool of one survives failed transactions and a connection killed mid-transaction', async () => {
    const pool = new pg.Pool({ connectionString: temp.url, max: 1 });
    pool.on('error', () => undefined);
    const raw = createNodePgRawDb(pool);
    try {
      // every path releases its client: with max 1 a leak would hang the next call
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          raw.transaction(async (tx) => {
            await tx.query({ text: 'select 1' });
            throw new Error('boom');
          }),
        );
        await assert.rejects(raw.transaction((tx) => tx.query({ text: 'select 1/0' })));
      }
      const pid = (await raw.query<{ pid: number }>({ text: 'select pg_backend_pid() as pid' }))[0]?.pid;
      await assert.rejects(raw.transaction((tx) => tx.query({ text: 'select pg_terminate_backend(pg_backend_pid())' })));
      // the broken connection was destroyed, not pooled: the next one is a new session
      const next = (await raw.query<{ pid: number }>({ text: 'select pg_backend_pid() as pid' }))[0]?.pid;
      assert.notEqual(next, pid);
      assert.equal(await raw.transaction(async (tx) => (await tx.query<{ one: number }>({ name: 'raw_test_one', text: 'select 1 as one' }))[0]?.one), 1);
    } finally {
      await pool.end();
    }
  });

  test('rawDbOf also serves a drizzle database made elsewhere', async () => {
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const pool = new pg.Pool({ connectionString: temp.url, max: 1 });
    try {
      const db = drizzle({ client: pool }) as unknown as DatabaseHandle['db'];
      const raw = rawDbOf(db);
      assert.equal(rawDbOf(db), raw);
      assert.deepEqual(await raw.query({ text: 'select 2 as two' }), [{ two: 2 }]);
    } finally {
      await pool.end();
    }
  });
});
