import { createRequire } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { createNodePgRawDb, createPgliteRawDb, type RawDb } from './raw';
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
  /** The same connections without a query builder: parametrised SQL and named prepared statements, for hot paths. */
  raw: RawDb;
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
  /** Under a request deadline, transactions end this long before it (`RawDbOptions`). */
  deadlineMarginMs?: number | undefined;
}

export const DEFAULT_POOL_MAX = 10;

/** Opens the database: a node-postgres pool when `url` is set, PGlite (in memory or in `dataDir`) otherwise. */
export async function createDatabase(opts: CreateDatabaseOptions = {}): Promise<DatabaseHandle> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolMax ?? DEFAULT_POOL_MAX });
    // without a listener an idle connection's error (server restart) would crash the process
    pool.on('error', (err) => opts.onPoolError?.(err));
    const db = drizzleNodePg({ client: pool, schema });
    const raw = createNodePgRawDb(pool, { deadlineMarginMs: opts.deadlineMarginMs });
    rawDbs.set(db, raw);
    let closed: Promise<void> | undefined;
    return { db, raw, kind: 'postgres', close: () => (closed ??= pool.end()) };
  }
  const client = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite({ client, schema });
  const raw = createPgliteRawDb(client, { deadlineMarginMs: opts.deadlineMarginMs });
  rawDbs.set(db, raw);
  let closed: Promise<void> | undefined;
  return { db, raw, kind: 'pglite', close: () => (closed ??= client.close()) };
}

const rawDbs = new WeakMap<Database, RawDb>();

function isPglite(client: unknown): client is PGlite {
  return client instanceof PGlite || (typeof client === 'object' && client !== null && 'waitReady' in client && typeof (client as PGlite).transaction === 'function');
}

/**
 * The raw facility over the connections of a drizzle database: `handle.raw` for one made by
 * `createDatabase`, else one over its pool or PGlite instance (for callers that only hold `db`).
 */
export function rawDbOf(db: Database): RawDb {
  const known = rawDbs.get(db);
  if (known) return known;
  const client = (db as unknown as { $client?: unknown }).$client;
  let raw: RawDb;
  if (client instanceof pg.Pool || isPool(client)) raw = createNodePgRawDb(client as import('pg').Pool);
  else if (isPglite(client)) raw = createPgliteRawDb(client);
  else throw new TypeError('rawDbOf: the database must be over a node-postgres pool or PGlite');
  rawDbs.set(db, raw);
  return raw;
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
