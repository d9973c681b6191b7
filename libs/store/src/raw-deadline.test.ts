import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeadlineExceededError, withDeadline } from '@dbroker/bus';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createDatabase, type DatabaseHandle } from './db';
import { sqlState } from './errors';

/** Transactions under a request deadline (`withDeadline`): never begun too late, never committed late. */

const MARGIN = 100;
const insert = (v: string) => ({ text: 'insert into dl_t (v) values ($1)', values: [v] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`deadline-bound transactions on ${kind}`, () => {
    let temp: TempDatabase | undefined;
    let handle: DatabaseHandle;
    const values = async () => (await handle.raw.query<{ v: string }>({ text: 'select v from dl_t order by v' })).map((r) => r.v);
    before(async () => {
      if (kind === 'postgres') temp = await createTempDatabase('dbroker_dl');
      handle = await createDatabase({ url: temp?.url, deadlineMarginMs: MARGIN, poolMax: 3 });
      await handle.raw.query({ text: 'create table dl_t (v text primary key)' });
    });
    after(async () => {
      await handle.close();
      await temp?.drop();
    });

    test('without a deadline nothing changes; with time left the transaction commits', async () => {
      await handle.raw.transaction((tx) => tx.query(insert('free')));
      await withDeadline(Date.now() + 5_000, () => handle.raw.transaction((tx) => tx.query(insert('in-time'))));
      assert.deepEqual(await values(), ['free', 'in-time']);
    });

    test('a transaction is not begun when less than the margin is left', async () => {
      let ran = false;
      await assert.rejects(
        withDeadline(Date.now() + MARGIN / 2, () =>
          handle.raw.transaction(async (tx) => {
            ran = true;
            await tx.query(insert('too-late'));
          }),
        ),
        DeadlineExceededError,
      );
      assert.equal(ran, false);
      assert.ok(!(await values()).includes('too-late'));
    });

    test('work that ran past the deadline rolls back instead of committing', async () => {
      await assert.rejects(
        withDeadline(Date.now() + MARGIN + 150, () =>
          handle.raw.transaction(async (tx) => {
            await tx.query(insert('slow'));
            await sleep(200); // no statement runs meanwhile: only the check before COMMIT can catch it
          }),
        ),
        (err: unknown) => err instanceof DeadlineExceededError && /before COMMIT/.test(err.message),
      );
      assert.ok(!(await values()).includes('slow'));
    });

    if (kind === 'postgres') {
      test('a statement and a lock wait are bounded by the time left (statement_timeout, lock_timeout)', async () => {
        const started = Date.now();
        await assert.rejects(
          withDeadline(Date.now() + MARGIN + 300, () => handle.raw.transaction((tx) => tx.query({ text: 'select pg_sleep(5)' }))),
          (err: unknown) => err instanceof DeadlineExceededError && err.stage === 'statement_timeout' && sqlState(err) === '57014',
        );
        assert.ok(Date.now() - started < 1_500, `cancelled after ${Date.now() - started} ms`);

        // a row lock held by another session past the deadline
        const holder = handle.raw.transaction(async (tx) => {
          await tx.query({ text: `update dl_t set v = v where v = 'free'` });
          await sleep(1_000);
        });
        await sleep(50);
        const t0 = Date.now();
        await assert.rejects(
          withDeadline(Date.now() + MARGIN + 300, () =>
            handle.raw.transaction(async (tx) => {
              await tx.query(insert('behind-lock'));
              await tx.query({ text: `update dl_t set v = 'changed' where v = 'free'` });
            }),
          ),
          // lock_timeout and statement_timeout are equal: whichever fires first
          (err: unknown) => err instanceof DeadlineExceededError && (sqlState(err) === '55P03' || sqlState(err) === '57014'),
        );
        assert.ok(Date.now() - t0 < 1_000, `gave up the lock wait after ${Date.now() - t0} ms`);
        await holder;
        await sleep(100);
        assert.deepEqual(await values(), ['free', 'in-time'], 'nothing landed after the lock was released');
        // the pooled connection is clean: the SET LOCAL ended with its transaction
        const [row] = await handle.raw.query<{ s: string; l: string }>({ text: `select current_setting('statement_timeout') as s, current_setting('lock_timeout') as l` });
        assert.deepEqual(row, { s: '0', l: '0' });
      });
    }
  });
}
