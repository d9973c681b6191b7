import type { Tracer } from '@opentelemetry/api';
import { connectBus, featuresSubject, requestSubjectAnyDomain, sendPrivilegedMessage, startWorker, type Bus, type WorkerHandle } from '@dbroker/bus';
import { mamFeatures, NS_MAM_1, NS_MAM_2, type MamNamespace } from '@dbroker/mam';
import type { AccessPolicy } from '@dbroker/pubsub';
import { MIGRATIONS_DIR, createDatabase, runMigrations, type DatabaseHandle } from '@dbroker/store';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import type { MamConfig } from './config';
import { createMamHandler, type OutboundSender } from './handler';
import { createRosterCache, rosterLookup, sendIqOverNats } from '@dbroker/user-state';

export interface MamDeps {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  ops?: OpsServer;
  bus?: Bus;
  database?: DatabaseHandle;
  /** Replaces the read policy (default: the PEP worker's: rosters from the shared cache, affiliations from the nodes). */
  access?: AccessPolicy;
  /** Replaces the NATS outbound request (tests). */
  outbound?: OutboundSender;
}

/** Namespaces this worker kind serves, each on its own route (`mam`, `mam1`: aliases of @dbroker/bus). */
export const MAM_ROUTES: ReadonlyArray<{ route: string; ns: MamNamespace }> = [
  { route: 'mam', ns: NS_MAM_2 },
  { route: 'mam1', ns: NS_MAM_1 },
];

/**
 * Starts the MAM worker: database (and migrations), NATS, then the queue-group subscriptions on the
 * `mam` and `mam1` request routes and their feature subjects. Results go out through the ingress on
 * `<prefix>.out.<domain>`, one acknowledged message at a time, before each IQ reply.
 */
export async function startMamWorker(config: MamConfig, deps: MamDeps) {
  const { logger } = deps;
  const ownDb = !deps.database;
  const database = deps.database ?? (await createDatabase({ url: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, poolMax: config.DATABASE_POOL_MAX, deadlineMarginMs: config.DATABASE_DEADLINE_MARGIN_MS }));
  if (config.MIGRATE_ON_START) await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR, logger });
  const ownBus = !deps.bus;
  const bus = deps.bus ?? (await connectBus({ url: config.NATS_URL, name: config.WORKER_ID, logger, auth: config, kind: 'mam' }));
  const handled = deps.metrics.histogram('dbroker_worker_request_duration_seconds', 'Time a worker spent on one request', ['kind', 'outcome'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const delivered = deps.metrics.counter('dbroker_mam_results_delivered_total', 'MAM result messages acknowledged by the ingress');
  const handle = createMamHandler({
    db: database.db,
    logger,
    outbound: deps.outbound ?? ((subject, env, timeoutMs) => sendPrivilegedMessage(bus.nc, subject, env, timeoutMs)),
    subjectPrefix: config.SUBJECT_PREFIX,
    workerId: config.WORKER_ID,
    pageSize: { default: config.MAM_DEFAULT_PAGE, max: config.MAM_MAX_PAGE },
    countMax: config.MAM_COUNT_MAX,
    sendWindow: config.MAM_SEND_WINDOW,
    access: deps.access,
    // the same roster cache (table and lifetime) the PEP workers read, so both decide alike
    roster: rosterLookup(
      createRosterCache({ db: database.raw, sendIq: sendIqOverNats(bus.nc, config.SUBJECT_PREFIX), ttlMs: config.ROSTER_TTL_MS, staleMaxMs: config.ROSTER_STALE_MAX_MS, timeoutMs: config.USER_IQ_TIMEOUT_MS, worker: config.WORKER_ID, logger }),
    ),
    ackTimeoutMs: config.MAM_ACK_TIMEOUT_MS,
    onDelivered: () => delivered.inc(),
  });
  const workers: WorkerHandle[] = MAM_ROUTES.map(({ route, ns }, i) =>
    startWorker({
      nc: bus.nc,
      // one worker takes both request routes (one concurrency bound); each route announces its own features
      subjects: i === 0 ? MAM_ROUTES.map((r) => requestSubjectAnyDomain(config.SUBJECT_PREFIX, r.route)) : [],
      featureSubjects: [featuresSubject(config.SUBJECT_PREFIX, route)],
      features: { identities: [], features: mamFeatures(ns) },
      queue: config.WORKER_QUEUE,
      concurrency: config.WORKER_CONCURRENCY,
      maxQueued: config.WORKER_QUEUE_MAX,
      maxQueuedBytes: config.WORKER_QUEUE_MAX_BYTES,
      workerId: config.WORKER_ID,
      logger,
      tracer: deps.tracer,
      handle: (req) => handle({ requestId: req.requestId, server: req.server, stanza: req.stanza, deadline: req.deadline, address: req }),
      onHandled: (outcome, seconds) => handled.observe({ kind: 'mam', outcome }, seconds),
    }),
  );
  // The subscriptions are live on the server once this round trip returns: only then is the worker ready.
  await bus.nc.flush();
  deps.ops?.addReadyCheck('mam-nats', () => bus.isConnected());
  return {
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
      if (ownBus) await bus.drain();
      if (ownDb) await database.close();
    },
  };
}
