import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '@dbroker/telemetry';

export interface IngressMetrics {
  requests: Counter<'route' | 'outcome' | 'condition'>;
  latency: Histogram<'route' | 'outcome'>;
  inflight: Gauge;
  rejectedStanzas: Counter<'reason'>;
  xmppOnline: Gauge;
  droppedOutbound: Counter;
  droppedEvents: Counter;
  privilegedMessages: Counter<'outcome'>;
  presences: Counter<'outcome'>;
  userIqs: Counter<'kind' | 'outcome'>;
}

export function createIngressMetrics(m: Metrics): IngressMetrics {
  return {
    requests: m.counter('dbroker_ingress_requests_total', 'Forwarded IQs answered, by route, outcome and error condition', ['route', 'outcome', 'condition']),
    latency: m.histogram('dbroker_ingress_request_duration_seconds', 'Time from forwarded IQ to answer', ['route', 'outcome'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    inflight: m.gauge('dbroker_ingress_inflight_requests', 'Forwarded IQs waiting for a worker', []),
    rejectedStanzas: m.counter('dbroker_ingress_rejected_stanzas_total', 'Stanzas refused before routing', ['reason']),
    xmppOnline: m.gauge('dbroker_ingress_xmpp_online', '1 while the component stream is authenticated', []),
    droppedOutbound: m.counter('dbroker_ingress_outbound_dropped_total', 'Stanzas dropped because the outbound queue was full', []),
    droppedEvents: m.counter('dbroker_ingress_audit_events_dropped_total', 'Audit events dropped because the buffer was full', []),
    privilegedMessages: m.counter(
      'dbroker_ingress_privileged_messages_total',
      'XEP-0356 messages asked by workers, by outcome: sent, forbidden, not-allowed, no-permission, offline, bad-request, or server-error (refused by the server after sending)',
      ['outcome'],
    ),
    presences: m.counter(
      'dbroker_ingress_presences_total',
      'Presences received from the server, by outcome: forwarded (published to the workers), ignored (not availability: subscribe, probe, error...), untrusted (a sender that may not tell us presences), malformed, publish-failed (NATS)',
      ['outcome'],
    ),
    userIqs: m.counter(
      'dbroker_ingress_user_iqs_total',
      'IQs asked by workers (roster-get, disco-info), by outcome: result, error (the entity answered an error), timeout, offline, forbidden, no-permission, bad-request, too-large (the answer does not fit a NATS message)',
      ['kind', 'outcome'],
    ),
  };
}
