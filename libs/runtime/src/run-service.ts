import type { Tracer } from '@opentelemetry/api';
import { ConfigError } from '@dbroker/config';
import { createLogger, createMetrics, startOpsServer, type Logger, type Metrics, type OpsServer, type Tracing } from '@dbroker/telemetry';

export interface ServiceContext {
  logger: Logger;
  metrics: Metrics;
  ops: OpsServer;
  tracer: Tracer;
}

export interface BaseServiceConfig {
  LOG_LEVEL: string;
  HTTP_PORT: number;
  HTTP_HOST: string;
}

export interface Stoppable {
  stop(): Promise<void>;
}

export interface RunServiceOptions<C extends BaseServiceConfig> {
  /** Short service name: logs, metrics and the ops server carry it. */
  name: string;
  tracing: Tracing;
  loadConfig: () => C;
  start: (config: C, ctx: ServiceContext) => Promise<Stoppable>;
  /** Upper bound for a graceful stop after SIGTERM before the process exits anyway. */
  stopTimeoutMs?: number;
}

/**
 * The lifecycle every deployable shares: parse config once (a bad value stops the process with a clear
 * message and exit code 2), logger, metrics and the ops HTTP server (/healthz, /readyz, /metrics), then the
 * service; on SIGTERM/SIGINT stop it (drain), flush traces and exit.
 */
export async function runService<C extends BaseServiceConfig>(opts: RunServiceOptions<C>): Promise<void> {
  let config: C;
  try {
    config = opts.loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ service: opts.name, level: config.LOG_LEVEL });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'));

  const metrics = createMetrics({ service: opts.name });
  let started = false;
  // Not ready until every part of the service has started and registered its own checks.
  const ops = await startOpsServer({ port: config.HTTP_PORT, host: config.HTTP_HOST, registry: metrics.registry, logger, checks: { ready: [{ name: 'started', check: () => started }] } });
  logger.info({ port: ops.port }, 'ops endpoints on /healthz /readyz /metrics');

  let service: Stoppable;
  try {
    service = await opts.start(config, { logger, metrics, ops, tracer: opts.tracing.tracer });
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    await ops.close().catch(() => undefined);
    await opts.tracing.shutdown().catch(() => undefined);
    process.exit(1);
  }
  started = true;
  logger.info({}, `${opts.name} started`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const timeout = setTimeout(() => {
      logger.error({ timeoutMs: opts.stopTimeoutMs ?? 15_000 }, 'graceful stop timed out; exiting');
      process.exit(1);
    }, opts.stopTimeoutMs ?? 15_000);
    timeout.unref();
    try {
      await service.stop();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
    }
    await ops.close().catch(() => undefined);
    await opts.tracing.shutdown().catch(() => undefined);
    logger.info({}, 'stopped');
    logger.flush?.();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
