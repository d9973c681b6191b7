import { z } from 'zod';
import { commonEnv, databaseChoice, databaseChosen, databaseEnv, databaseUrl, int, natsUrl, parseEnv } from '@dbroker/config';

export const ProjectorEnvSchema = z.object({
  ...commonEnv,
  HTTP_PORT: int(9466, 0, 65535),
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  /** Postgres; without it the service refuses to start unless PGLITE_DATA_DIR or EMBEDDED_DATABASE=true asks for PGlite. */
  ...databaseEnv,
  DATABASE_POOL_MAX: int(4, 1, 500),
  /** Run migrations at start-up (under an advisory lock). */
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Durable consumer name; replicas sharing it share the work (and lose strict ordering between them). */
  PROJECTOR_DURABLE: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('projector'),
  /** Messages pulled per request. */
  PROJECTOR_BATCH: int(100, 1, 1000),
  /** After a database error: redelivery delay of the message (nak) and pause before consuming again. */
  PROJECTOR_RETRY_DELAY_MS: int(2_000, 10, 600_000),
  /** JetStream redelivers a message not acknowledged within this time (consumer ack_wait, set on creation). */
  PROJECTOR_ACK_WAIT_MS: int(30_000, 1_000, 3_600_000),
  // ---- retention (README "Retention")
  /** Days `events` rows are kept (the sources of the current grants and privileges always are); 0 = forever. */
  EVENTS_RETENTION_DAYS: int(90, 0, 36_500),
  /** Days `audit_log` rows are kept; 0 = forever. */
  AUDIT_RETENTION_DAYS: int(90, 0, 36_500),
  /** How often each projector replica runs a retention sweep. */
  RETENTION_INTERVAL_MS: int(60_000, 1_000, 86_400_000),
  /** Rows deleted per statement (one short transaction each). */
  RETENTION_BATCH_ROWS: int(1_000, 1, 100_000),
  /** Statements per table per sweep: bounds the work of one sweep; the next sweep continues. */
  RETENTION_MAX_BATCHES: int(50, 1, 10_000),
}).refine(databaseChosen, databaseChoice);

export type ProjectorConfig = z.infer<typeof ProjectorEnvSchema>;

export const loadProjectorConfig = (env: Record<string, string | undefined> = process.env): ProjectorConfig =>
  parseEnv(ProjectorEnvSchema, env, 'projector');

export const RebuildEnvSchema = z
  .object({
    DATABASE_URL: databaseUrl.optional(),
    PGLITE_DATA_DIR: z.string().optional(),
  })
  .refine((c) => c.DATABASE_URL !== undefined || c.PGLITE_DATA_DIR !== undefined, {
    message: 'set DATABASE_URL (or PGLITE_DATA_DIR for an embedded database): rebuilding an empty in-memory database does nothing',
    path: ['DATABASE_URL'],
  });

export type RebuildConfig = z.infer<typeof RebuildEnvSchema>;

export const loadRebuildConfig = (env: Record<string, string | undefined> = process.env): RebuildConfig =>
  parseEnv(RebuildEnvSchema, env, 'db:rebuild');
