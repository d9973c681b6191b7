import { z } from 'zod';
import { databaseUrl, int } from './env';

/**
 * Where a service keeps its data. A worker or projector runs as one of many replicas: an embedded
 * database would give each replica its own, empty one, so without DATABASE_URL the service refuses to
 * start unless the embedded database is asked for explicitly: PGLITE_DATA_DIR (persisted there) or
 * EMBEDDED_DATABASE=true (in memory when PGLITE_DATA_DIR is unset too, for a single process only).
 * The all-in-one mode sets EMBEDDED_DATABASE=true for its services: one process, one database.
 */
export const databaseEnv = {
  /** Postgres connection URL (shared by every replica). */
  DATABASE_URL: databaseUrl.optional(),
  /** Embedded PGlite persisted in this directory (asks for the embedded database). */
  PGLITE_DATA_DIR: z.string().optional(),
  /** `true`: the embedded PGlite database when DATABASE_URL is unset (in memory without PGLITE_DATA_DIR). */
  EMBEDDED_DATABASE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /**
   * A write transaction of a request ends this long before the request's deadline (statement and lock
   * timeouts are the time left minus this; no COMMIT later): room for the reply to reach the ingress and
   * for clock differences between hosts.
   */
  DATABASE_DEADLINE_MARGIN_MS: int(250, 0, 60_000),
};

export const DATABASE_CHOICE_MESSAGE =
  'is not set: set it to the shared Postgres, or ask for the embedded database explicitly with PGLITE_DATA_DIR or EMBEDDED_DATABASE=true (each replica then has its own)';

/** The refinement every replicated service applies: a database was chosen, not defaulted to. */
export function databaseChosen(c: { DATABASE_URL?: string | undefined; PGLITE_DATA_DIR?: string | undefined; EMBEDDED_DATABASE: boolean }): boolean {
  return c.DATABASE_URL !== undefined || c.PGLITE_DATA_DIR !== undefined || c.EMBEDDED_DATABASE;
}

export const databaseChoice = { message: DATABASE_CHOICE_MESSAGE, path: ['DATABASE_URL'] };
