import type { PGlite, Transaction as PgliteTransaction } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';
import { currentDeadline, DeadlineExceededError } from '@dbroker/bus';

/**
 * Parametrised SQL without a query builder, for hot paths, on either driver.
 *
 * node-postgres: a query with a `name` is a named prepared statement, parsed once per pooled connection
 * and then only bound and executed. Names must be unique per statement text within the process (a name
 * reused with another text is an error of the driver); prefix them with the module that owns them.
 * PGlite: names are ignored (one in-process session, nothing to save on the wire).
 *
 * Values come back as each driver parses them: `timestamptz` as `Date`, `json`/`jsonb` parsed; `int8`
 * is a string with node-postgres and a number with PGlite, so read it with `Number(...)`.
 */

export interface RawQuery {
  /** Named prepared statement (node-postgres); ignored by PGlite. */
  name?: string | undefined;
  text: string;
  values?: readonly unknown[] | undefined;
}

/** Runs one statement and returns its rows. */
export interface RawExecutor {
  query<T>(q: RawQuery): Promise<T[]>;
}

/** A statement runner inside one open transaction. */
export type RawTx = RawExecutor;

export interface RawDb extends RawExecutor {
  /**
   * Runs `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws
   * (the error is rethrown). `fn` must only use `tx` until it settles.
   *
   * Under a request deadline (`withDeadline` of `@dbroker/bus`, set by the worker runtime) the
   * transaction never commits after the client was told the request failed: it is not begun when less
   * than the margin is left (`DeadlineExceededError`), its `statement_timeout` and `lock_timeout` are the
   * time left minus the margin (a statement or a lock wait past it aborts the transaction), and it rolls
   * back instead of committing when the time left fell below the margin meanwhile.
   */
  transaction<T>(fn: (tx: RawTx) => Promise<T>): Promise<T>;
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export interface RawDbOptions {
  /**
   * Time kept, under a request deadline, for the reply to travel back to the ingress (and for clock
   * differences between hosts): a transaction must be done this long before the deadline.
   */
  deadlineMarginMs?: number | undefined;
}

export const DEFAULT_DEADLINE_MARGIN_MS = 250;
/** SQLSTATEs of `statement_timeout` and `lock_timeout`. */
const QUERY_CANCELED = '57014';
const LOCK_NOT_AVAILABLE = '55P03';

/** Milliseconds a transaction may still take under the current request deadline; undefined: no deadline. */
function budgetMs(marginMs: number, stage: string): number | undefined {
  const deadline = currentDeadline();
  if (deadline === undefined) return undefined;
  const left = deadline - Date.now() - marginMs;
  if (left < 1) throw new DeadlineExceededError(deadline, stage);
  return Math.floor(left);
}

/** `RawDb` over a node-postgres pool (the instance OpenTelemetry's pg instrumentation patched). */
export function createNodePgRawDb(pool: Pool, opts: RawDbOptions = {}): RawDb {
  const marginMs = opts.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  const run = async <T>(client: Pool | PoolClient, q: RawQuery): Promise<T[]> => {
    const config = q.name === undefined ? { text: q.text, values: q.values as unknown[] | undefined } : { name: q.name, text: q.text, values: q.values as unknown[] | undefined };
    const res = await client.query(config);
    return res.rows as T[];
  };
  return {
    query: (q) => run(pool, q),
    async transaction(fn) {
      budgetMs(marginMs, 'before the transaction');
      const client = await pool.connect();
      // a checked-out client has no pool listener: without ours a dropped connection would crash the process
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      try {
        // checked again: waiting for a pooled connection took time
        const budget = budgetMs(marginMs, 'waiting for a connection');
        // one round trip: BEGIN and the timeouts as one simple-protocol query
        await client.query(budget === undefined ? 'BEGIN' : `BEGIN; SET LOCAL statement_timeout = ${budget}; SET LOCAL lock_timeout = ${budget}`);
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn({ query: (q) => run(client, q) });
        } catch (err) {
          // the timeouts set from the deadline fired: say so (the SQLSTATE stays on `cause`)
          const deadline = currentDeadline();
          const state = (err as { code?: unknown }).code;
          if (budget !== undefined && deadline !== undefined && (state === QUERY_CANCELED || state === LOCK_NOT_AVAILABLE)) {
            throw new DeadlineExceededError(deadline, state === LOCK_NOT_AVAILABLE ? 'lock_timeout' : 'statement_timeout', { cause: err });
          }
          throw err;
        }
        budgetMs(marginMs, 'before COMMIT');
        await client.query('COMMIT');
        return result;
      } catch (err) {
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            // the session is unusable (connection lost mid-transaction): do not pool it
            broken = toError(rollbackErr);
          }
        }
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
  };
}

/** `RawDb` over PGlite (its own transaction, serialised with every other use of the instance). */
export function createPgliteRawDb(pglite: PGlite, opts: RawDbOptions = {}): RawDb {
  const marginMs = opts.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  const run = async <T>(client: PGlite | PgliteTransaction, q: RawQuery): Promise<T[]> => {
    const res = await client.query<T>(q.text, q.values as unknown[] | undefined);
    return res.rows;
  };
  return {
    query: (q) => run(pglite, q),
    // One in-process session: no lock waits, and its statements run to the end; the deadline is checked
    // before the transaction, when it starts (after other users of the instance) and before COMMIT.
    async transaction(fn) {
      budgetMs(marginMs, 'before the transaction');
      return await pglite.transaction(async (tx) => {
        budgetMs(marginMs, 'waiting for the database');
        const result = await fn({ query: (q) => run(tx, q) });
        budgetMs(marginMs, 'before COMMIT');
        return result;
      });
    },
  };
}
