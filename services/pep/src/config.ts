import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, databaseUrl, int, natsUrl, parseEnv } from '@dbroker/config';

export const PepEnvSchema = z.object({
  ...commonEnv,
  HTTP_PORT: int(9465, 0, 65535),
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  /** Postgres; unset = embedded PGlite (PGLITE_DATA_DIR, in memory when that is unset too). */
  DATABASE_URL: databaseUrl.optional(),
  PGLITE_DATA_DIR: z.string().optional(),
  /** Requests one replica handles at once. */
  WORKER_CONCURRENCY: int(32, 1, 4096),
  /** Identity written to the audit log; defaults to host and pid. */
  WORKER_ID: z.string().min(1).default(`pep@${hostname()}:${process.pid}`),
  /** Queue group shared by every PEP replica. */
  WORKER_QUEUE: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pep'),
  MAX_PAYLOAD_BYTES: int(262_144, 256, 16 * 1024 * 1024),
  /** Pool size of the Postgres connection pool. */
  DATABASE_POOL_MAX: int(10, 1, 500),
  /** Run migrations at start-up (under an advisory lock). */
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
});

export type PepConfig = z.infer<typeof PepEnvSchema>;

export const loadPepConfig = (env: Record<string, string | undefined> = process.env): PepConfig => parseEnv(PepEnvSchema, env, 'pep');
