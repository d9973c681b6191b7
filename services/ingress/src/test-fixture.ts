// The ingress against a scripted XEP-0114 server (test/harness/fake-xmpp-server) and a private nats-server,
// with a worker-side NATS connection and the audit events it emitted: what the ingress suites share.
import { trace } from '@opentelemetry/api';
import { connectBus, type AuditEvent, type Bus } from '@dbroker/bus';
import { createLogger, createMetrics, type Metrics } from '@dbroker/telemetry';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { startFakeXmppServer, type FakeXmppServer } from '../../../test/harness/fake-xmpp-server';
import { IngressEnvSchema } from './config';
import { startIngress, type Ingress } from './app';

export const SERVER = 'localhost';
export const COMPONENT = 'pubsub.localhost';
export const SECRET = 's3cret';

export interface IngressFixture {
  nats: NatsServerHandle;
  fake: FakeXmppServer;
  bus: Bus;
  ingress: Ingress;
  metrics: Metrics;
  /** Audit events the ingress emitted, in order (batches unpacked). */
  audit: AuditEvent[];
  stop(): Promise<void>;
}

/** Starts NATS, the fake server and the ingress (`env` on top of fast test timings); resolves once connected. */
export async function startIngressFixture(name: string, env: Record<string, string> = {}): Promise<IngressFixture> {
  const logger = createLogger({ service: name, level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const nats = await startNatsServer();
  const fake = await startFakeXmppServer({ domain: COMPONENT, secret: SECRET });
  const bus = await connectBus({ url: nats.url, name: 'worker-side', logger });
  const audit: AuditEvent[] = [];
  // The audit events reach JetStream as ordinary publishes: a core subscription sees them too.
  bus.nc.subscribe('dbroker.events.>', {
    callback: (_e, m) => {
      const body = JSON.parse(m.string()) as AuditEvent | { batch: AuditEvent[] };
      audit.push(...('batch' in body ? body.batch : [body]));
    },
  });
  await bus.nc.flush();
  const config = IngressEnvSchema.parse({
    XMPP_SERVICE: fake.service,
    XMPP_DOMAIN: COMPONENT,
    XMPP_SECRET: SECRET,
    XMPP_SERVER: SERVER,
    NATS_URL: nats.url,
    PING_INTERVAL_MS: '5000',
    PING_TIMEOUT_MS: '2000',
    RECONNECT_INITIAL_MS: '20',
    RECONNECT_MAX_MS: '200',
    FEATURES_CACHE_MS: '0',
    FEATURES_WAIT_MS: '0',
    ...env,
  });
  const metrics = createMetrics({ service: name });
  const ingress = await startIngress(config, { logger, metrics, tracer: trace.getTracer('test') });
  await fake.waitForConnection();
  return {
    nats,
    fake,
    bus,
    ingress,
    metrics,
    audit,
    async stop() {
      await ingress.stop();
      await bus.nc.close();
      await fake.stop();
      await nats.stop();
    },
  };
}

/** Polls a synchronous condition every 10 ms; throws naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not met in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
