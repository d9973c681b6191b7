import type { Tracer } from '@opentelemetry/api';
import { connectBus, featuresSubject, requestSubjectAnyDomain, startWorker, type Bus } from '@dbroker/bus';
import { MIGRATIONS_DIR, createDatabase, runMigrations, type DatabaseHandle } from '@dbroker/store';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import { PEP_FEATURES, PEP_IDENTITIES } from '@dbroker/pubsub';
import type { PepConfig } from './config';
import { createPepHandler } from './handler';

export interface PepDeps {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  ops?: OpsServer;
  bus?: Bus;
  database?: DatabaseHandle;
}

/** Namespaces this worker kind serves, each on its own route. */
export const PEP_ROUTES = ['pubsub', 'pubsub-owner'] as const;

export async function startPepWorker(config: PepConfig, deps: PepDeps) {
  const { logger } = deps;
  const ownDb = !deps.database;
  const database = deps.database ?? (await createDatabase({ url: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, poolMax: config.DATABASE_POOL_MAX }));
  if (config.MIGRATE_ON_START) await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR, logger });
  const ownBus = !deps.bus;
  const bus = deps.bus ?? (await connectBus({ url: config.NATS_URL, name: config.WORKER_ID, logger }));
  const handled = deps.metrics.histogram('dbroker_worker_request_duration_seconds', 'Time a worker spent on one request', ['kind', 'outcome'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const handle = createPepHandler({ db: database.raw, logger, maxPayloadBytes: config.MAX_PAYLOAD_BYTES });
  const worker = startWorker({
    nc: bus.nc,
    subjects: PEP_ROUTES.map((r) => requestSubjectAnyDomain(config.SUBJECT_PREFIX, r)),
    featureSubjects: PEP_ROUTES.map((r) => featuresSubject(config.SUBJECT_PREFIX, r)),
    features: { identities: PEP_IDENTITIES, features: PEP_FEATURES },
    queue: config.WORKER_QUEUE,
    concurrency: config.WORKER_CONCURRENCY,
    workerId: config.WORKER_ID,
    logger,
    tracer: deps.tracer,
    handle: (req) => handle({ requestId: req.requestId, stanza: req.stanza }),
    onHandled: (outcome, seconds) => handled.observe({ kind: 'pep', outcome }, seconds),
  });
  // The subscriptions are live on the server once this round trip returns: only then is the worker ready.
  await bus.nc.flush();
  deps.ops?.addReadyCheck('pep-nats', () => bus.isConnected());
  return {
    async stop() {
      await worker.stop();
      if (ownBus) await bus.drain();
      if (ownDb) await database.close();
    },
  };
}
