import type { Tracer } from '@opentelemetry/api';
import { connectBus, createEventPublisher, ensureEventsStream, outboundSubject, requestFeatures, type Bus } from '@dbroker/bus';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import type { IngressConfig } from './config';
import { createDispatcher } from './dispatcher';
import { createDiscoResponder } from './disco-responder';
import { createNatsForwarder } from './forwarder';
import { GrantTable } from './grants';
import { createIngressMetrics } from './metrics';
import { createOutboundHandler, createOutboundSubscription } from './outbound';
import { PrivilegeState } from './privileges';
import { createRequestHandler } from './request-handler';
import { createXmppLink } from './xmpp-link';

export interface IngressDeps {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  /** Ops server to register readiness checks on. */
  ops?: OpsServer;
  /** Reuse an existing NATS connection (all-in-one mode); otherwise one is opened from NATS_URL. */
  bus?: Bus;
}

export interface Ingress {
  grants: GrantTable;
  /** XEP-0356 permissions advertised on the current stream. */
  privileges: PrivilegeState;
  /** Subject this ingress takes outbound stanzas on (subscribed only while the XMPP link is online). */
  outboundSubject: string;
  isReady(): boolean;
  stop(): Promise<void>;
}

/** Starts the ingress: NATS and the events stream first, the XMPP link last (nothing is routed before its backends). */
export async function startIngress(config: IngressConfig, deps: IngressDeps): Promise<Ingress> {
  const logger = deps.logger;
  const ownBus = !deps.bus;
  const bus = deps.bus ?? (await connectBus({ url: config.NATS_URL, name: `ingress ${config.XMPP_DOMAIN}`, logger }));
  await ensureEventsStream(bus.nc, config.EVENTS_STREAM, config.EVENTS_SUBJECT_PREFIX);
  const metrics = createIngressMetrics(deps.metrics);
  const events = createEventPublisher({
    nc: bus.nc,
    prefix: config.EVENTS_SUBJECT_PREFIX,
    server: config.XMPP_SERVER,
    component: config.XMPP_DOMAIN,
    logger,
    onDropped: (n) => metrics.droppedEvents.inc(n),
  });
  const grants = new GrantTable();
  const privileges = new PrivilegeState();
  const link = createXmppLink({
    service: config.XMPP_SERVICE,
    domain: config.XMPP_DOMAIN,
    secret: config.XMPP_SECRET,
    server: config.XMPP_SERVER,
    logger,
    pingIntervalMs: config.PING_INTERVAL_MS,
    pingTimeoutMs: config.PING_TIMEOUT_MS,
    reconnectInitialMs: config.RECONNECT_INITIAL_MS,
    reconnectMaxMs: config.RECONNECT_MAX_MS,
    outboundQueueMax: config.OUTBOUND_QUEUE_MAX,
    onDropped: (n) => metrics.droppedOutbound.inc(n),
  });
  const send = link.send.bind(link);
  const disco = createDiscoResponder({
    subjectPrefix: config.SUBJECT_PREFIX,
    cacheMs: config.FEATURES_CACHE_MS,
    waitMs: config.FEATURES_WAIT_MS,
    fetchFeatures: (subject) => requestFeatures(bus.nc, subject, config.FEATURES_TIMEOUT_MS),
  });
  const forwarder = createNatsForwarder(bus.nc, bus.isConnected);
  const outbound = createOutboundHandler({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    maxStanzaBytes: config.MAX_STANZA_BYTES,
    privileges,
    link,
    events,
    logger,
    metrics,
  });
  let dispatcher: ReturnType<typeof createDispatcher>;
  const handleForwarded = createRequestHandler({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    subjectPrefix: config.SUBJECT_PREFIX,
    maxStanzaBytes: config.MAX_STANZA_BYTES,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    grants,
    forwarder,
    send,
    events,
    logger,
    tracer: deps.tracer,
    metrics,
    onBroken: (outer, reason, condition) => dispatcher.onBroken(outer, reason, condition),
  });
  dispatcher = createDispatcher({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    grants,
    privileges,
    send,
    onMessageError: (msg) => outbound.onServerError(msg),
    handleForwarded,
    disco,
    events,
    logger,
    metrics,
  });

  const outSubject = outboundSubject(config.SUBJECT_PREFIX, config.XMPP_SERVER);
  const outboundSub = createOutboundSubscription({ nc: bus.nc, subject: outSubject, handler: outbound, logger });

  link.events.on('stanza', (el) => dispatcher.dispatch(el));
  link.events.on('online', () => {
    metrics.xmppOnline.set(1);
    outboundSub.subscribe();
  });
  link.events.on('offline', () => {
    // Grants and privileges belong to a stream: the server advertises them again on the next one (Prosody
    // may send them in the same TCP segment as the handshake answer, before xmpp.js reports `online`).
    grants.clear();
    privileges.clear();
    outbound.resetStream();
    metrics.xmppOnline.set(0);
    void outboundSub.unsubscribe();
  });
  link.start();

  const isReady = () => link.status() === 'online' && bus.isConnected();
  deps.ops?.addReadyCheck('ingress-xmpp', () => link.status() === 'online');
  deps.ops?.addReadyCheck('ingress-nats', () => bus.isConnected());

  return {
    grants,
    privileges,
    outboundSubject: outSubject,
    isReady,
    async stop() {
      await outboundSub.unsubscribe();
      await link.stop();
      forwarder.close();
      await events.stop(5000);
      if (ownBus) await bus.drain();
    },
  };
}
