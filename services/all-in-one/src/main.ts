import { tracing } from './otel';
import { join } from 'node:path';
import { runService } from '@dbroker/runtime';
import { loadIngressConfig, startIngress } from '@dbroker/ingress';
import { loadPepConfig, startPepWorker } from '@dbroker/pep';
import { loadMamConfig, startMamWorker } from '@dbroker/mam-worker';
import { loadProjectorConfig, startProjector } from '@dbroker/projector';
import { connectBus } from '@dbroker/bus';
import { MIGRATIONS_DIR, createDatabase, runMigrations } from '@dbroker/store';
import { loadAllInOneConfig } from './config';
import { startEmbeddedNats } from './embedded-nats';

// Every service in one process, sharing one NATS connection, one database and one ops server.
// NATS_URL unset: a nats-server child process. DATABASE_URL unset: PGlite in DATA_DIR.
await runService({
  name: 'all-in-one',
  tracing,
  loadConfig: () => {
    const aio = loadAllInOneConfig();
    // one process, one database: the embedded default is meant here (a lone worker must ask for it)
    const env = { ...process.env, MIGRATE_ON_START: 'false', EMBEDDED_DATABASE: 'true' };
    return { ...loadIngressConfig(env), aio, pep: loadPepConfig(env), mam: loadMamConfig(env), projector: loadProjectorConfig(env), natsUrlSet: !!process.env.NATS_URL };
  },
  start: async (config, ctx) => {
    const { logger } = ctx;
    const nats = config.natsUrlSet ? null : await startEmbeddedNats({ bin: config.aio.NATS_SERVER_BIN, port: config.aio.EMBEDDED_NATS_PORT, storeDir: join(config.aio.dataDir, 'nats') });
    if (nats) logger.info({ url: nats.url, pid: nats.pid }, 'embedded nats-server started (set NATS_URL to use your own)');
    const natsUrl = nats?.url ?? config.NATS_URL;
    const database = await createDatabase({
      url: config.pep.DATABASE_URL,
      dataDir: config.pep.DATABASE_URL ? undefined : (config.pep.PGLITE_DATA_DIR ?? join(config.aio.dataDir, 'pglite')),
      poolMax: config.pep.DATABASE_POOL_MAX,
      deadlineMarginMs: config.pep.DATABASE_DEADLINE_MARGIN_MS,
    });
    if (database.kind === 'pglite') logger.info({ dataDir: join(config.aio.dataDir, 'pglite') }, 'embedded PGlite database (set DATABASE_URL to use Postgres)');
    await runMigrations(database.db, { migrationsDir: MIGRATIONS_DIR, logger });
    const bus = await connectBus({ url: natsUrl, name: `dbroker all-in-one ${config.XMPP_DOMAIN}`, logger, auth: nats?.auth ?? config, kind: 'all-in-one' });
    const shared = { ...ctx, bus, database };
    const projector = await startProjector({ ...config.projector, NATS_URL: natsUrl }, shared);
    const pep = await startPepWorker({ ...config.pep, NATS_URL: natsUrl }, shared);
    const mam = await startMamWorker({ ...config.mam, NATS_URL: natsUrl }, shared);
    const ingress = await startIngress({ ...config, NATS_URL: natsUrl }, shared);
    return {
      async stop() {
        await ingress.stop();
        await mam.stop();
        await pep.stop();
        await projector.stop();
        await bus.drain();
        await database.close();
        await nats?.stop();
      },
    };
  },
});
