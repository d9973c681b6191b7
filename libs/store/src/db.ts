import { createRequire } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import * as schema from './schema';

// `pg` is loaded through require so that OpenTelemetry's require hook (instrumentation-pg) can patch it.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

export type Schema = typeof schema;
/** A drizzle database over either driver (node-postgres pool or PGlite). */
export type Database = PgDatabase<any, Schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Anything queries can run on: the database or an open transaction. */
export type Executor = Database | Transaction;
export type DatabaseKind = 'postgres' | 'pglite';

export interface DatabaseHandle {
  db: Database;
  kind: DatabaseKind;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Postgres connection URL. Absent: an embedded PGlite database. */
  url?: string | undefined;
  /** PGlite only: directory to persist to. Absent: in memory. */
  dataDir?: string | undefined;
  /** Postgres only: maximum pooled connections. */
  poolMax?: number | undefined;
  /** Postgres only: errors of idle pooled connections (the pool replaces them). */
  onPoolError?: ((err: Error) => void) | undefined;
}

export const DEFAULT_POOL_MAX = 10;

/** Opens the database: a node-postgres pool when `url` is set, PGlite (in memory or in `dataDir`) otherwise. */
export async function createDatabase(opts: CreateDatabaseOptions = {}): Promise<DatabaseHandle> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolMax ?? DEFAULT_POOL_MAX });
    // without a listener an idle connection's error (server restart) would crash the process
    pool.on('error', (err) => opts.onPoolError?.(err));
    const db = drizzleNodePg({ client: pool, schema });
    let closed: Promise<void> | undefined;
    return { db, kind: 'postgres', close: () => (closed ??= pool.end()) };
  }
  const client = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite({ client, schema });
  let closed: Promise<void> | undefined;
  return { db, kind: 'pglite', close: () => (closed ??= client.close()) };
}

type PoolLike = { connect(): Promise<import('pg').PoolClient>; totalCount: number };

function isPool(client: unknown): client is PoolLike {
  return typeof client === 'object' && client !== null && 'totalCount' in client && typeof (client as PoolLike).connect === 'function';
}

const sessionQueues = new WeakMap<object, Promise<unknown>>();

/**
 * Runs `fn` on one database session for its whole duration (session-level advisory locks need that).
 * With a pool a client is checked out; a single-session client (PGlite, pg.Client) is used as is, with
 * callers in this process queued one after the other since they would share the session.
 */
export async function withSession<T>(db: Database, fn: (session: Database) => Promise<T>): Promise<T> {
  const client = (db as unknown as { $client?: unknown }).$client;
  if (isPool(client)) {
    const conn = await client.connect();
    let failed: Error | undefined;
    try {
      return await fn(drizzleNodePg({ client: conn, schema }));
    } catch (err) {
      failed = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // a session that failed may still hold locks or be broken: destroy it rather than pool it
      conn.release(failed);
    }
  }
  const key = typeof client === 'object' && client !== null ? client : db;
  const previous = sessionQueues.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => fn(db));
  sessionQueues.set(key, run.catch(() => undefined));
  return await run;
}
