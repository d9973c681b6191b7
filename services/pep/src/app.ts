import type { Tracer } from '@opentelemetry/api';
import { connectBus, featuresSubject, requestSubjectAnyDomain, startWorker, withoutDeadline, type Bus } from '@dbroker/bus';
import { MIGRATIONS_DIR, createDatabase, runMigrations, type DatabaseHandle } from '@dbroker/store';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import { createPgPubsubStorage, createPubsubEngine, PEP_FEATURES, PEP_IDENTITIES } from '@dbroker/pubsub';
import { pubsubLimitsOf, type PepConfig } from './config';
import { createPepHandler } from './handler';
import { rosterLookup } from '@dbroker/user-state';
import { createNotifier } from './notifier';
import { startPresenceConsumer } from './presence-consumer';
import { createUserState } from './user-state';
import { startUserStateSweep } from './user-state-sweep';
import { startNodeHistorySweep } from './node-history-sweep';

export interface PepDeps {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  ops?: OpsServer;
  bus?: Bus;
  database?: DatabaseHandle;
}

/** Namespaces this worker kind serves, each on its own route (disco: the bare-JID pseudo-namespaces). */
export const PEP_ROUTES = ['pubsub', 'pubsub-owner', 'disco-info', 'disco-items'] as const;
/** Routes whose disco-nesting features are PEP's (the disco routes carry none of their own). */
const PEP_FEATURE_ROUTES = ['pubsub', 'pubsub-owner'] as const;

export async function startPepWorker(config: PepConfig, deps: PepDeps) {
  const { logger } = deps;
  const ownDb = !deps.database;
  const database = deps.database ?? (await createDatabase({ url: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, poolMax: config.DATABASE_POOL_MAX, deadlineMarginMs: config.DATABASE_DEADLINE_MARGIN_MS }));
  if (config.MIGRATE_ON_START) await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR, logger });
  const ownBus = !deps.bus;
  const bus = deps.bus ?? (await connectBus({ url: config.NATS_URL, name: config.WORKER_ID, logger, auth: config, kind: 'pep' }));
  const handled = deps.metrics.histogram('dbroker_worker_request_duration_seconds', 'Time a worker spent on one request', ['kind', 'outcome'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const userState = createUserState({
    db: database.raw,
    nc: bus.nc,
    subjectPrefix: config.SUBJECT_PREFIX,
    worker: config.WORKER_ID,
    logger,
    rosterTtlMs: config.ROSTER_TTL_MS,
    presenceTtlMs: config.PRESENCE_TTL_MS,
    iqTimeoutMs: config.USER_IQ_TIMEOUT_MS,
    capsUnverifiedTtlMs: config.CAPS_UNVERIFIED_TTL_MS,
    rosterStaleMaxMs: config.ROSTER_STALE_MAX_MS,
  });
  const swept = deps.metrics.counter('dbroker_retention_deleted_rows_total', 'Rows deleted by retention and expiry sweeps, by table', ['table']);
  const sweep = startUserStateSweep({ db: database.raw, config, logger, onDeleted: (table, rows) => swept.inc({ table }, rows) });
  const historySweep = startNodeHistorySweep({ db: database.raw, config, logger, onDeleted: (table, rows) => swept.inc({ table }, rows) });
  const limitHits = deps.metrics.counter('dbroker_pep_limit_hits_total', 'Requests refused, retrievals paged and notifications truncated by a per-user limit', ['limit']);
  const engine = createPubsubEngine({
    storage: createPgPubsubStorage(database.raw),
    roster: rosterLookup(userState.roster),
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    maxItemsPerNode: config.MAX_ITEMS_PER_NODE,
    keepRetractedPayloads: config.MAM_KEEP_RETRACTED_PAYLOADS,
    limits: pubsubLimitsOf(config),
    onLimit: (hit) => {
      limitHits.inc({ limit: hit.limit });
      logger.debug(hit, 'per-user limit reached');
    },
  });
  const sent = deps.metrics.counter('dbroker_pep_notifications_total', 'Notification messages handed to the ingress', ['kind', 'outcome']);
  const notifier = createNotifier({
    engine,
    userState,
    nc: bus.nc,
    subjectPrefix: config.SUBJECT_PREFIX,
    worker: config.WORKER_ID,
    logger,
    timeoutMs: config.NOTIFY_TIMEOUT_MS,
    concurrency: config.NOTIFY_CONCURRENCY,
    maxBytesInFlight: config.NOTIFY_MAX_BYTES_IN_FLIGHT,
    tracer: deps.tracer,
    onSent: (kind, ok) => sent.inc({ kind, outcome: ok ? 'sent' : 'failed' }),
    maxRecipients: config.MAX_RECIPIENTS_PER_NOTIFICATION,
    maxQueued: config.NOTIFY_QUEUE_MAX,
    onDropped: () => sent.inc({ kind: 'notification', outcome: 'dropped' }),
    onTruncated: () => limitHits.inc({ limit: 'recipients-per-notification' }),
  });
  const presences = deps.metrics.counter('dbroker_pep_presences_total', 'Presences applied to the shared presence state', ['kind']);
  const presenceConsumer = startPresenceConsumer({
    nc: bus.nc,
    subjectPrefix: config.SUBJECT_PREFIX,
    queue: config.WORKER_QUEUE,
    presence: userState.presence,
    notifier,
    logger,
    concurrency: 16,
    maxQueued: config.PRESENCE_QUEUE_MAX,
    maxQueuedBytes: config.PRESENCE_QUEUE_MAX_BYTES,
    onApplied: (kind) => presences.inc({ kind }),
  });
  const handle = createPepHandler({
    db: database.raw,
    engine,
    logger,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    // the fan-out outlives the request: it runs outside the request's deadline
    onEffects: (req, effects) => withoutDeadline(() => notifier.onEffects(req.server ?? "", req.requestId, effects)),
  });
  const worker = startWorker({
    nc: bus.nc,
    subjects: PEP_ROUTES.map((r) => requestSubjectAnyDomain(config.SUBJECT_PREFIX, r)),
    featureSubjects: PEP_FEATURE_ROUTES.map((r) => featuresSubject(config.SUBJECT_PREFIX, r)),
    features: { identities: PEP_IDENTITIES, features: PEP_FEATURES },
    queue: config.WORKER_QUEUE,
    concurrency: config.WORKER_CONCURRENCY,
    maxQueued: config.WORKER_QUEUE_MAX,
    maxQueuedBytes: config.WORKER_QUEUE_MAX_BYTES,
    workerId: config.WORKER_ID,
    logger,
    tracer: deps.tracer,
    handle: (req) => handle({ requestId: req.requestId, stanza: req.stanza, server: req.server, address: req }),
    onHandled: (outcome, seconds) => handled.observe({ kind: 'pep', outcome }, seconds),
  });
  // The subscriptions are live on the server once this round trip returns: only then is the worker ready.
  await bus.nc.flush();
  deps.ops?.addReadyCheck('pep-nats', () => bus.isConnected());
  return {
    async stop() {
      await sweep.stop();
      await historySweep.stop();
      await worker.stop();
      await presenceConsumer.stop();
      await notifier.idle();
      if (ownBus) await bus.drain();
      if (ownDb) await database.close();
    },
  };
}
