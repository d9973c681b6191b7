import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, databaseChoice, databaseChosen, databaseEnv, int, natsUrl, parseEnv } from '@dbroker/config';
import type { PubsubLimits } from '@dbroker/pubsub';

export const PepEnvSchema = z.object({
  ...commonEnv,
  HTTP_PORT: int(9465, 0, 65535),
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  /** Postgres; without it the service refuses to start unless PGLITE_DATA_DIR or EMBEDDED_DATABASE=true asks for PGlite. */
  ...databaseEnv,
  /** Requests one replica handles at once. */
  WORKER_CONCURRENCY: int(32, 1, 4096),
  /** Identity written to the audit log; defaults to host and pid. */
  WORKER_ID: z.string().min(1).default(`pep@${hostname()}:${process.pid}`),
  /** Queue group shared by every PEP replica. */
  WORKER_QUEUE: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pep'),
  MAX_PAYLOAD_BYTES: int(262_144, 256, 16 * 1024 * 1024),
  // ---- per-user limits (libs/pubsub/src/limits.ts; README "Limits") ----
  /** Live nodes one account may own (OMEMO adds one bundle node per device). */
  MAX_NODES_PER_USER: int(256, 1, 1_000_000),
  /** Bound of a node's pubsub#max_items and what `max` means; the oldest items go beyond a node's max_items. */
  MAX_ITEMS_PER_NODE: int(1000, 1, 100_000),
  /** UTF-8 bytes of the payloads of the current items of all of an account's nodes. */
  MAX_BYTES_PER_USER: int(16 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
  MAX_SUBSCRIPTIONS_PER_NODE: int(1000, 1, 1_000_000),
  MAX_AFFILIATIONS_PER_NODE: int(1000, 1, 1_000_000),
  /** Most messages one notification fans out to (and online resources considered for it). */
  MAX_RECIPIENTS_PER_NOTIFICATION: int(2000, 1, 1_000_000),
  /** Items of one retrieval page (no max_items; XEP-0059), and the bound of max_items and RSM <max/>. */
  ITEMS_PAGE_MAX: int(1000, 1, 100_000),
  /** Payload bytes of one retrieval page (the first item always comes). */
  ITEMS_PAGE_MAX_BYTES: int(196_608, 1024, 64 * 1024 * 1024),
  /** Pool size of the Postgres connection pool. */
  DATABASE_POOL_MAX: int(10, 1, 500),
  /** How long a roster fetched through XEP-0356 is trusted (Prosody sends no roster pushes). */
  ROSTER_TTL_MS: int(300_000, 1_000, 86_400_000),
  /** A resource counts as online this long after its last presence (bounds servers that send no unavailable presence on disconnect, ejabberd). */
  PRESENCE_TTL_MS: int(21_600_000, 10_000, 604_800_000),
  /** Bound of each IQ the worker has the ingress send (roster get, caps disco#info). */
  USER_IQ_TIMEOUT_MS: int(5_000, 100, 60_000),
  /** How long a caps answer that does not match its hash is used. */
  CAPS_UNVERIFIED_TTL_MS: int(600_000, 0, 86_400_000),
  /** Bound of each privileged message send (the ingress's ack). */
  NOTIFY_TIMEOUT_MS: int(5_000, 100, 60_000),
  /** Notification messages in flight at once per replica (beyond that, publishes wait). */
  NOTIFY_CONCURRENCY: int(64, 1, 4096),
  /** UTF-8 bytes of notification stanzas sent and not yet acked by the ingress per replica (a larger single stanza goes alone). */
  NOTIFY_MAX_BYTES_IN_FLIGHT: int(4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** Notification work waiting for NOTIFY_CONCURRENCY per replica; beyond it new work is dropped and counted. */
  NOTIFY_QUEUE_MAX: int(10_000, 0, 1_000_000),
  /**
   * `true` keeps the payloads of retracted, purged and deleted items in the nodes' MAM archive. Default:
   * they are erased (the retraction stays in the history; the earlier publish entry loses its payload).
   */
  MAM_KEEP_RETRACTED_PAYLOADS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Run migrations at start-up (under an advisory lock). */
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  // ---- bounded growth of the shared user state (README "Retention")
  /** When a roster fetch fails, the stored copy is used only while younger than this; older = no contacts. */
  ROSTER_STALE_MAX_MS: int(3_600_000, 0, 604_800_000),
  /** Stored rosters older than this are deleted by the sweep. */
  ROSTER_MAX_AGE_MS: int(86_400_000, 60_000, 31_536_000_000),
  /** Most rows in caps_cache; beyond it the sweep evicts unverified rows first, then the oldest fetched. */
  CAPS_CACHE_MAX_ROWS: int(100_000, 100, 100_000_000),
  /** How often each PEP replica sweeps presence_sessions, caps_cache and roster_cache. */
  USER_STATE_SWEEP_INTERVAL_MS: int(60_000, 1_000, 86_400_000),
  /** Rows deleted per statement by the sweep. */
  USER_STATE_SWEEP_BATCH_ROWS: int(1_000, 1, 100_000),
  /** Statements per table per sweep (bounds one sweep's work; the next continues). */
  USER_STATE_SWEEP_MAX_BATCHES: int(20, 1, 10_000),
  // ---- retention of the pubsub node history (README "Retention")
  /** Days a node log entry (the node's MAM archive) is kept; the entries of current items stay. 0 = forever. */
  NODE_HISTORY_RETENTION_DAYS: int(365, 0, 36_500),
  /** Node log entries kept per node, newest first (besides the current items' entries). 0 = no cap. */
  NODE_HISTORY_MAX_EVENTS: int(10_000, 0, 100_000_000),
  /** Days a deleted node's tombstone and its log are kept. 0 = forever. */
  NODE_TOMBSTONE_RETENTION_DAYS: int(30, 0, 36_500),
  /** How often each PEP replica sweeps the node history. */
  NODE_HISTORY_SWEEP_INTERVAL_MS: int(300_000, 1_000, 86_400_000),
  /** Rows deleted per statement by the node history sweep. */
  NODE_HISTORY_SWEEP_BATCH_ROWS: int(1_000, 1, 100_000),
  /** Statements per part (age, cap, tombstones) per sweep (bounds one sweep's work; the next continues). */
  NODE_HISTORY_SWEEP_MAX_BATCHES: int(20, 1, 10_000),
  /** Requests waiting for a free slot (count, bytes); beyond them a request is refused with resource-constraint. */
  WORKER_QUEUE_MAX: int(1_024, 0, 1_000_000),
  WORKER_QUEUE_MAX_BYTES: int(33_554_432, 0, 1_073_741_824),
  /** Presences waiting to be applied (count, bytes); beyond them a presence is dropped (counted). */
  PRESENCE_QUEUE_MAX: int(10_000, 0, 1_000_000),
  PRESENCE_QUEUE_MAX_BYTES: int(16_777_216, 0, 1_073_741_824),
}).refine(databaseChosen, databaseChoice);

export type PepConfig = z.infer<typeof PepEnvSchema>;

/** The engine's per-user limits from the configuration. */
export const pubsubLimitsOf = (c: PepConfig): PubsubLimits => ({
  maxPayloadBytes: c.MAX_PAYLOAD_BYTES,
  maxNodesPerUser: c.MAX_NODES_PER_USER,
  maxBytesPerUser: c.MAX_BYTES_PER_USER,
  maxSubscriptionsPerNode: c.MAX_SUBSCRIPTIONS_PER_NODE,
  maxAffiliationsPerNode: c.MAX_AFFILIATIONS_PER_NODE,
  itemsPageMax: c.ITEMS_PAGE_MAX,
  itemsPageMaxBytes: c.ITEMS_PAGE_MAX_BYTES,
});

export const loadPepConfig = (env: Record<string, string | undefined> = process.env): PepConfig => parseEnv(PepEnvSchema, env, 'pep');
