import { connectBus, type Bus } from '@dbroker/bus';
import { MIGRATIONS_DIR, createDatabase, runMigrations, type DatabaseHandle } from '@dbroker/store';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import type { ProjectorConfig } from './config';
import { createProjector, type MessageOutcome, type Projector } from './projector';
import { startAuditRetention } from './retention';

export interface ProjectorDeps {
  logger: Logger;
  metrics?: Metrics;
  /** Ops server to register the readiness check on. */
  ops?: OpsServer;
  /** Reuse an existing NATS connection (all-in-one mode); otherwise one is opened from NATS_URL. */
  bus?: Bus;
  /** Reuse an open database (all-in-one mode); otherwise one is opened from DATABASE_URL / PGLITE_DATA_DIR. */
  database?: DatabaseHandle;
}

export interface ProjectorService {
  projector: Projector;
  database: DatabaseHandle;
  /** NATS connected, consuming, and the last database attempt succeeded. */
  isReady(): boolean;
  /** Stops consuming, then drains / closes the connections this service opened itself. */
  stop(): Promise<void>;
}

/** Starts the projector: database (and migrations), then NATS, then the consumer. */
export async function startProjector(config: ProjectorConfig, deps: ProjectorDeps): Promise<ProjectorService> {
  const logger = deps.logger.child({ component: 'projector' });
  const opened: Array<() => Promise<void>> = [];
  const closeOpened = async () => {
    for (const close of opened.splice(0).reverse()) await close().catch((err: unknown) => logger.warn({ err }, 'error while closing'));
  };
  try {
    let database = deps.database;
    if (!database) {
      database = await createDatabase({
        url: config.DATABASE_URL,
        dataDir: config.PGLITE_DATA_DIR,
        poolMax: config.DATABASE_POOL_MAX,
        onPoolError: (err) => logger.warn({ err }, 'idle database connection failed'),
      });
      opened.push(database.close);
    }
    if (config.MIGRATE_ON_START) await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR, logger });
    let bus = deps.bus;
    if (!bus) {
      bus = await connectBus({ url: config.NATS_URL, name: `projector ${config.PROJECTOR_DURABLE}`, logger, auth: config, kind: 'projector' });
      opened.push(bus.drain);
    }

    const outcomes = deps.metrics?.counter('dbroker_projector_messages_total', 'Event stream messages handled by the projector, by outcome', ['outcome']);
    const pending = deps.metrics?.gauge('dbroker_projector_pending_messages', 'Stream messages not yet delivered to the projector (as of the last delivery)');
    const projector = createProjector({
      nc: bus.nc,
      db: database.db,
      config,
      logger,
      onOutcome: (outcome: MessageOutcome) => {
        outcomes?.inc({ outcome });
        pending?.set(projector.lagging().pending ?? 0);
      },
    });
    await projector.start();
    const deleted = deps.metrics?.counter('dbroker_retention_deleted_rows_total', 'Rows deleted by retention and expiry sweeps, by table', ['table']);
    const retention = startAuditRetention({ db: database.raw, config, logger, onDeleted: (table, rows) => deleted?.inc({ table }, rows) });

    const connectedBus = bus;
    const isReady = () => {
      const lag = projector.lagging();
      return connectedBus.isConnected() && lag.running && !lag.failing;
    };
    const removeCheck = deps.ops?.addReadyCheck('projector', isReady);
    return {
      projector,
      database,
      isReady,
      async stop() {
        removeCheck?.();
        await retention.stop();
        await projector.stop();
        await closeOpened();
      },
    };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}
