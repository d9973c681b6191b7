import type { Tracer } from '@opentelemetry/api';
import { connectBus, createEventPublisher, encodeStateEnvelope, ensureEventsStream, iqSubject, outboundSubject, presenceSubject, requestFeatures, type Bus, type IqResponseEnvelope } from '@dbroker/bus';
import type { Logger, Metrics, OpsServer } from '@dbroker/telemetry';
import { xmlLimitsOf, type IngressConfig } from './config';
import { createDispatcher } from './dispatcher';
import { createDiscoResponder } from './disco-responder';
import { createNatsForwarder } from './forwarder';
import { GrantTable } from './grants';
import { createIngressMetrics } from './metrics';
import { createLinkSubscription } from './link-subscription';
import { createOutboundHandler, createOutboundSubscription } from './outbound';
import { createPresenceForwarder } from './presence-forwarder';
import { PrivilegeState } from './privileges';
import { createRateLimiter, createRequestRateGate } from './rate-limit';
import { createRequestHandler } from './request-handler';
import { createStreamProtocols } from './stream-protocols';
import { createUserIqHandler } from './user-iq';
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
  /** Subject the presences the server sends are published on (`<prefix>.presence.<domain>`). */
  presenceSubject: string;
  /** Subject this ingress takes worker IQ requests on (`<prefix>.iq.<domain>`; subscribed only while online). */
  iqSubject: string;
  isReady(): boolean;
  stop(): Promise<void>;
}

/** How long after a stream's first advertisement its protocol versions are reported (ejabberd sends several). */
const STREAM_PROTOCOLS_DEBOUNCE_MS = 1000;

/** Starts the ingress: NATS and the events stream first, the XMPP link last (nothing is routed before its backends). */
export async function startIngress(config: IngressConfig, deps: IngressDeps): Promise<Ingress> {
  const logger = deps.logger;
  const ownBus = !deps.bus;
  const bus = deps.bus ?? (await connectBus({ url: config.NATS_URL, name: `ingress ${config.XMPP_DOMAIN}`, logger, auth: config, kind: 'ingress' }));
  await ensureEventsStream(bus.nc, config.EVENTS_STREAM, config.EVENTS_SUBJECT_PREFIX, { maxAgeMs: config.EVENTS_STREAM_MAX_AGE_MS, maxBytes: config.EVENTS_STREAM_MAX_BYTES }, logger);
  const metrics = createIngressMetrics(deps.metrics);
  const events = createEventPublisher({
    nc: bus.nc,
    prefix: config.EVENTS_SUBJECT_PREFIX,
    server: config.XMPP_SERVER,
    component: config.XMPP_DOMAIN,
    logger,
    maxBuffered: config.AUDIT_BUFFER_MAX_EVENTS,
    maxBufferedBytes: config.AUDIT_BUFFER_MAX_BYTES,
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
    outboundQueueMaxBytes: config.OUTBOUND_QUEUE_MAX_BYTES,
    onDropped: (n) => metrics.droppedOutbound.inc(n),
    xmlLimits: xmlLimitsOf(config),
    onStreamError: (code) => metrics.rejectedStanzas.inc({ reason: `stream-${code}` }),
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
    maxBytesInFlight: config.OUTBOUND_MAX_BYTES_IN_FLIGHT,
    privileges,
    link,
    events,
    logger,
    metrics,
  });
  const presSubject = presenceSubject(config.SUBJECT_PREFIX, config.XMPP_SERVER);
  const presences = createPresenceForwarder({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    subject: presSubject,
    // while NATS is away the client would buffer publishes without bound: a presence is dropped instead (counted)
    publish: (subject, data) => {
      if (!bus.isConnected()) throw new Error('NATS disconnected: presence not buffered');
      bus.nc.publish(subject, data);
    },
    privileges,
    logger,
    metrics,
  });
  const userIqs = createUserIqHandler({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    privileges,
    link,
    events,
    logger,
    metrics,
    // Room for the JSON envelope and headers around the stanza.
    maxResponseBytes: Math.max(4096, (bus.nc.info?.max_payload ?? 1024 * 1024) - 4096),
  });
  const protocols = createStreamProtocols({
    debounceMs: STREAM_PROTOCOLS_DEBOUNCE_MS,
    report: ({ delegation, privilege }) => {
      logger.info(
        { server: config.XMPP_SERVER, component: config.XMPP_DOMAIN, delegation, privilege },
        `protocol versions on this connection: delegation ${delegation ?? 'none'}, privilege ${privilege ?? 'none'}`,
      );
      events.emit({ type: 'stream.protocols', delegation, privilege });
    },
  });
  const rateGate =
    config.RATE_LIMIT_PER_SECOND > 0
      ? createRequestRateGate({
          limiter: createRateLimiter({ ratePerSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST, maxKeys: config.RATE_LIMIT_TRACKED_JIDS }),
          ratePerSecond: config.RATE_LIMIT_PER_SECOND,
          logger,
          refused: deps.metrics.counter('dbroker_ingress_rate_limited_total', 'Forwarded IQs refused because their requester was over RATE_LIMIT_PER_SECOND (answered resource-constraint)', []),
        })
      : undefined;
  let dispatcher: ReturnType<typeof createDispatcher>;
  const handleForwarded = createRequestHandler({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    subjectPrefix: config.SUBJECT_PREFIX,
    maxStanzaBytes: config.MAX_STANZA_BYTES,
    xmlLimits: xmlLimitsOf(config),
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    grants,
    forwarder,
    send,
    events,
    logger,
    tracer: deps.tracer,
    metrics,
    rateGate,
    onBroken: (outer, reason, condition) => dispatcher.onBroken(outer, reason, condition),
  });
  dispatcher = createDispatcher({
    serverDomain: config.XMPP_SERVER,
    componentDomain: config.XMPP_DOMAIN,
    grants,
    privileges,
    send,
    onMessageError: (msg) => outbound.onServerError(msg),
    onIqResponse: (iq) => userIqs.onResponse(iq),
    onPresence: (el) => presences.onPresence(el),
    onDelegationVersion: (v) => protocols.delegation(v),
    onPrivilegeVersion: (v) => protocols.privilege(v),
    handleForwarded,
    disco,
    events,
    logger,
    metrics,
  });

  const outSubject = outboundSubject(config.SUBJECT_PREFIX, config.XMPP_SERVER);
  const outboundSub = createOutboundSubscription({ nc: bus.nc, subject: outSubject, handler: outbound, logger });
  const iqSubj = iqSubject(config.SUBJECT_PREFIX, config.XMPP_SERVER);
  const iqSub = createLinkSubscription<IqResponseEnvelope>({ nc: bus.nc, subject: iqSubj, handle: (data) => userIqs.handle(data), encode: encodeStateEnvelope, logger, what: 'worker IQ requests' });

  link.events.on('stanza', (el) => dispatcher.dispatch(el));
  link.events.on('rejected', (r) => dispatcher.onRejected(r));
  link.events.on('online', () => {
    metrics.xmppOnline.set(1);
    outboundSub.subscribe();
    iqSub.subscribe();
  });
  link.events.on('offline', () => {
    // Grants and privileges belong to a stream: the server advertises them again on the next one (Prosody
    // may send them in the same TCP segment as the handshake answer, before xmpp.js reports `online`).
    grants.clear();
    privileges.clear();
    outbound.resetStream();
    userIqs.resetStream();
    presences.resetStream();
    protocols.reset();
    metrics.xmppOnline.set(0);
    void outboundSub.unsubscribe();
    void iqSub.unsubscribe();
  });
  link.start();

  const isReady = () => link.status() === 'online' && bus.isConnected();
  deps.ops?.addReadyCheck('ingress-xmpp', () => link.status() === 'online');
  deps.ops?.addReadyCheck('ingress-nats', () => bus.isConnected());

  return {
    grants,
    privileges,
    outboundSubject: outSubject,
    presenceSubject: presSubject,
    iqSubject: iqSubj,
    isReady,
    async stop() {
      await Promise.all([outboundSub.unsubscribe(), iqSub.unsubscribe()]);
      await link.stop();
      userIqs.resetStream();
      protocols.reset();
      forwarder.close();
      await events.stop(5000);
      if (ownBus) await bus.drain();
    },
  };
}
