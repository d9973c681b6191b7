import type { PGlite, Transaction as PgliteTransaction } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';

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
   */
  transaction<T>(fn: (tx: RawTx) => Promise<T>): Promise<T>;
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** `RawDb` over a node-postgres pool (the instance OpenTelemetry's pg instrumentation patched). */
export function createNodePgRawDb(pool: Pool): RawDb {
  const run = async <T>(client: Pool | PoolClient, q: RawQuery): Promise<T[]> => {
    const config = q.name === undefined ? { text: q.text, values: q.values as unknown[] | undefined } : { name: q.name, text: q.text, values: q.values as unknown[] | undefined };
    const res = await client.query(config);
    return res.rows as T[];
  };
  return {
    query: (q) => run(pool, q),
    async transaction(fn) {
      const client = await pool.connect();
      // a checked-out client has no pool listener: without ours a dropped connection would crash the process
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (q) => run(client, q) });
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
export function createPgliteRawDb(pglite: PGlite): RawDb {
  const run = async <T>(client: PGlite | PgliteTransaction, q: RawQuery): Promise<T[]> => {
    const res = await client.query<T>(q.text, q.values as unknown[] | undefined);
    return res.rows;
  };
  return {
    query: (q) => run(pglite, q),
    transaction: (fn) => pglite.transaction((tx) => fn({ query: (q) => run(tx, q) })),
  };
}
