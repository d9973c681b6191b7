import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, databaseChoice, databaseChosen, databaseEnv, int, natsUrl, parseEnv } from '@dbroker/config';

/** Hard upper bound of a page: every result is one awaited message on the component link. */
export const MAM_PAGE_LIMIT = 1000;

export const MamEnvSchema = z
  .object({
    ...commonEnv,
    HTTP_PORT: int(9467, 0, 65535),
    NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
    /** Postgres; without it the service refuses to start unless PGLITE_DATA_DIR or EMBEDDED_DATABASE=true asks for PGlite. */
    ...databaseEnv,
    /** Requests one replica handles at once. */
    WORKER_CONCURRENCY: int(32, 1, 4096),
    /** Identity written to the audit log; defaults to host and pid. */
    WORKER_ID: z.string().min(1).default(`mam@${hostname()}:${process.pid}`),
    /** Queue group shared by every MAM replica (its own, so MAM scales apart from PEP). */
    WORKER_QUEUE: z.string().regex(/^[A-Za-z0-9_-]+$/).default('mam'),
    /** Results per page when the query has no RSM <max/>. */
    MAM_DEFAULT_PAGE: int(50, 1, MAM_PAGE_LIMIT),
    /** Most results per page whatever <max/> asks (XEP-0313 §4.3.1). */
    MAM_MAX_PAGE: int(250, 1, MAM_PAGE_LIMIT),
    /**
     * RSM <count/> and <first index/> are counted exactly up to this many entries and left out beyond, so a
     * page never scans more of the archive than this (an index-only range scan); 0 turns counting off.
     */
    MAM_COUNT_MAX: int(10_000, 0, 100_000_000),
    /**
     * Result messages sent before the first is acknowledged (pipelined in order on one NATS connection);
     * 1 sends one at a time. Every one is acknowledged before the IQ reply either way.
     */
    MAM_SEND_WINDOW: int(16, 1, 256),
    /** How long one result message may wait for the ingress's ack (the request deadline bounds it too). */
    MAM_ACK_TIMEOUT_MS: int(2_000, 50, 60_000),
    /** Pool size of the Postgres connection pool. */
    DATABASE_POOL_MAX: int(10, 1, 500),
    /** How long a roster fetched through XEP-0356 is trusted (shared with the PEP workers' cache). */
    ROSTER_TTL_MS: int(300_000, 1_000, 86_400_000),
    /** When a roster fetch fails, the stored copy is used only while younger than this; older = no contacts. */
    ROSTER_STALE_MAX_MS: int(3_600_000, 0, 604_800_000),
    /** Requests waiting for a free slot (count, bytes); beyond them a request is refused with resource-constraint. */
    WORKER_QUEUE_MAX: int(1_024, 0, 1_000_000),
    WORKER_QUEUE_MAX_BYTES: int(33_554_432, 0, 1_073_741_824),
    /** Bound of a roster get the worker has the ingress send. */
    USER_IQ_TIMEOUT_MS: int(5_000, 100, 60_000),
    /** Run migrations at start-up (under an advisory lock). */
    MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  })
  .refine((c) => c.MAM_DEFAULT_PAGE <= c.MAM_MAX_PAGE, { message: 'must not exceed MAM_MAX_PAGE', path: ['MAM_DEFAULT_PAGE'] })
  .refine(databaseChosen, databaseChoice);

export type MamConfig = z.infer<typeof MamEnvSchema>;

export const loadMamConfig = (env: Record<string, string | undefined> = process.env): MamConfig => parseEnv(MamEnvSchema, env, 'mam');
