import { fastify } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';

export type HealthCheck = () => boolean | Promise<boolean>;

export interface ReadyCheck {
  /** Shown in `/readyz` answers; unique per server (prefix it with the service in all-in-one mode). */
  name: string;
  check: HealthCheck;
}

export const DEFAULT_OPS_HOST = '127.0.0.1';
export const DEFAULT_CHECK_TIMEOUT_MS = 2_000;

export interface OpsServerOptions {
  /** 0 picks an ephemeral port, returned as `OpsServer.port`. */
  port: number;
  /** Default 127.0.0.1; use 0.0.0.0 where probes and scrapers come from outside the host. */
  host?: string;
  registry: Registry;
  logger: Logger;
  checks?: {
    /** `/healthz` answers 503 when this returns false or throws; default: alive while the process is. */
    live?: HealthCheck;
    ready?: ReadyCheck[];
  };
  /** A check that has not answered after this long counts as failing. */
  checkTimeoutMs?: number;
}

export interface OpsServer {
  readonly port: number;
  readonly url: string;
  /** Adds a readiness check; returns a function that removes it again. */
  addReadyCheck(name: string, check: HealthCheck): () => void;
  close(): Promise<void>;
}

type CheckOutcome = 'ok' | 'failed' | 'timeout' | 'error';

export class DuplicateCheckError extends Error {
  override readonly name = 'DuplicateCheckError';
  readonly code = 'duplicate-check';
}

/**
 * The operations endpoint of a service: `GET /healthz` (liveness), `GET /readyz` (all readiness checks
 * pass: 200, otherwise 503 naming the failing ones) and `GET /metrics` (Prometheus text).
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, checks = {} } = options;
  const host = options.host ?? DEFAULT_OPS_HOST;
  const timeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const logger = options.logger.child({ component: 'ops-http' });
  const readyChecks = new Map<string, HealthCheck>();
  let wasReady: boolean | undefined;

  function addReadyCheck(name: string, check: HealthCheck): () => void {
    if (readyChecks.has(name)) throw new DuplicateCheckError(`readiness check ${name} is already registered`);
    readyChecks.set(name, check);
    return () => {
      if (readyChecks.get(name) === check) readyChecks.delete(name);
    };
  }
  for (const { name, check } of checks.ready ?? []) addReadyCheck(name, check);

  const app = fastify({ logger: false });

  app.get('/healthz', async (_request, reply) => {
    const outcome = checks.live === undefined ? 'ok' : await runCheck(checks.live, timeoutMs);
    if (outcome === 'ok') return reply.code(200).send({ status: 'ok' });
    return reply.code(503).send({ status: 'unhealthy', outcome });
  });

  app.get('/readyz', async (_request, reply) => {
    const entries = [...readyChecks];
    const outcomes = await Promise.all(entries.map(([, check]) => runCheck(check, timeoutMs)));
    const results: Record<string, CheckOutcome> = {};
    const failing: string[] = [];
    entries.forEach(([name], i) => {
      const outcome = outcomes[i] ?? 'error';
      results[name] = outcome;
      if (outcome !== 'ok') failing.push(name);
    });
    const ready = failing.length === 0;
    if (ready !== wasReady) {
      if (ready) logger.info('ready');
      else logger.warn({ failing, checks: results }, 'not ready');
      wasReady = ready;
    }
    return ready
      ? reply.code(200).send({ status: 'ready', checks: results })
      : reply.code(503).send({ status: 'not-ready', failing, checks: results });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.code(200).header('content-type', registry.contentType).send(text);
  });

  await app.listen({ port: options.port, host });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, 'ops server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    addReadyCheck,
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const run = (async (): Promise<CheckOutcome> => ((await check()) === true ? 'ok' : 'failed'))().catch(
    (): CheckOutcome => 'error',
  );
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
