import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Element } from '@xmpp/xml';
import {
  StanzaError,
  buildInnerReply,
  checkWorkerReply,
  isStanzaErrorCondition,
  parseErrorElement,
  parseForwardedIq,
  parseXml,
  wrapReply,
  type ForwardedRequest,
  type StanzaErrorCondition,
  type StanzaErrorType,
  type XmlLimits,
} from '@dbroker/protocol';
import { requestSubject, routeForNamespace, type EventPublisher, type RequestEnvelope } from '@dbroker/bus';
import type { Forwarder } from './forwarder';
import type { GrantTable } from './grants';
import type { IngressMetrics } from './metrics';
import { RATE_LIMITED_REASON, type RequestRateGate } from './rate-limit';
import type { LinkLogger } from './xmpp-link';

export interface RequestHandlerDeps {
  serverDomain: string;
  componentDomain: string;
  subjectPrefix: string;
  maxStanzaBytes: number;
  /** Limits worker replies are parsed within (the bytes limit is maxStanzaBytes). */
  xmlLimits?: Partial<XmlLimits>;
  requestTimeoutMs: number;
  grants: GrantTable;
  forwarder: Forwarder;
  send: (el: Element) => void;
  events: EventPublisher;
  logger: LinkLogger;
  tracer: Tracer;
  metrics: IngressMetrics;
  /** Requests per requester per second (absent: unlimited). */
  rateGate?: RequestRateGate | undefined;
  /** Called for stanzas that fail validation before a ForwardedRequest exists. */
  onBroken: (outer: Element, reason: string, condition: StanzaErrorCondition) => void;
}

/**
 * One forwarded IQ from validation to its single answer. Whatever happens behind it (no worker, a dead
 * worker, garbage, NATS down), the server gets exactly one well-formed wrapper within requestTimeoutMs.
 */
export function createRequestHandler(deps: RequestHandlerDeps) {
  const { logger, metrics, tracer, events } = deps;
  const replyLimits = { ...deps.xmlLimits, maxBytes: deps.maxStanzaBytes };

  return function handleForwarded(outer: Element): void {
    const received = performance.now();
    const parsed = parseForwardedIq(outer, { serverDomain: deps.serverDomain, componentDomain: deps.componentDomain, maxBytes: deps.maxStanzaBytes });
    if (!parsed.ok) {
      deps.onBroken(outer, parsed.reason, parsed.condition);
      return;
    }
    const req = parsed.value;
    const requestId = randomUUID();
    // Workers, audit and traces see the normalized target (ejabberd forwards `to` as the client typed it);
    // the reply echoes the address as sent (checkWorkerReply, buildInnerReply).
    const target = req.targetBare;
    const reject = (err: StanzaError, reason: string) => {
      deps.send(wrapReply(req, buildInnerReply(req, 'error', err)));
      events.emit({ type: 'request.rejected', requestId, from: req.from, to: target, namespace: req.payloadNs, iqType: req.innerType, reason, condition: err.condition });
      metrics.requests.inc({ route: 'none', outcome: 'rejected', condition: err.condition });
    };
    const match = deps.grants.match(req.payload, req.payloadNs, req.to.includes('@'));
    if (!match.ok) {
      logger.warn({ requestId, from: req.from, to: target, namespace: req.payloadNs, reason: match.reason }, 'forwarded iq rejected');
      return reject(new StanzaError('service-unavailable', { type: 'cancel' }), match.reason);
    }
    const overRate = deps.rateGate?.check(req);
    if (overRate) return reject(overRate, RATE_LIMITED_REASON);
    const route = routeForNamespace(req.payloadNs);
    const subject = requestSubject(deps.subjectPrefix, deps.serverDomain, route);

    tracer.startActiveSpan(
      `delegation ${req.innerType} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'xmpp.namespace': req.payloadNs,
          'xmpp.iq.type': req.innerType,
          'xmpp.from': req.from,
          'xmpp.to': target,
          'xmpp.delegation.version': req.version,
          'messaging.destination.name': subject,
          'dbroker.request_id': requestId,
        },
      },
      (span) => {
        const traceId = span.spanContext().traceId;
        let answered = false;
        metrics.inflight.inc();
        events.emit({ type: 'request.received', requestId, traceId, from: req.from, to: target, namespace: req.payloadNs, iqType: req.innerType, iqId: req.innerId, route, subject });

        const answer = (inner: Element, outcome: 'result' | 'error', detail: { condition?: string; reason?: string; worker?: string }) => {
          if (answered) return;
          answered = true;
          deps.send(wrapReply(req, inner));
          const latencyMs = performance.now() - received;
          metrics.inflight.dec();
          metrics.requests.inc({ route, outcome, condition: detail.condition ?? '' });
          metrics.latency.observe({ route, outcome }, latencyMs / 1000);
          events.emit({ type: 'request.answered', requestId, traceId, outcome, latencyMs, ...detail });
          span.setAttribute('xmpp.outcome', outcome);
          if (detail.condition) span.setAttribute('xmpp.error.condition', detail.condition);
          if (detail.worker) span.setAttribute('dbroker.worker', detail.worker);
          if (detail.reason) span.setStatus({ code: SpanStatusCode.ERROR, message: detail.reason });
          span.end();
        };
        const fail = (condition: StanzaErrorCondition, type: StanzaErrorType, reason: string, worker?: string) => {
          if (answered) return;
          const log = condition === 'service-unavailable' ? logger.warn.bind(logger) : logger.error.bind(logger);
          log({ requestId, traceId, subject, reason, condition, worker }, 'forwarded iq answered with an error by the broker');
          answer(buildInnerReply(req, 'error', new StanzaError(condition, { type })), 'error', { condition, reason, ...(worker ? { worker } : {}) });
        };

        const env: RequestEnvelope = {
          v: 1,
          requestId,
          server: deps.serverDomain,
          namespace: req.payloadNs,
          from: req.from,
          to: target,
          iqType: req.innerType,
          iqId: req.innerId,
          stanza: req.inner.toString(),
          deadline: Date.now() + deps.requestTimeoutMs,
        };
        deps.forwarder
          .forward(subject, env, deps.requestTimeoutMs)
          .then((res) => {
            switch (res.kind) {
              case 'no-responders':
                return fail('service-unavailable', 'cancel', `no worker serves ${subject}`);
              case 'bus-down':
                return fail('service-unavailable', 'wait', `bus unavailable: ${res.reason}`);
              case 'timeout':
                return fail('internal-server-error', 'wait', `timeout: no reply within ${deps.requestTimeoutMs} ms`);
              case 'bad-reply':
                return fail('internal-server-error', 'cancel', `invalid reply: ${res.reason}`);
              case 'reply': {
                const { reply } = res;
                if (reply.requestId !== requestId) return fail('internal-server-error', 'cancel', `invalid reply: request id ${reply.requestId} does not match`, reply.worker);
                if (reply.failure) {
                  const cond = isStanzaErrorCondition(reply.failure.condition) ? reply.failure.condition : 'internal-server-error';
                  return fail(cond, cond === 'internal-server-error' ? 'wait' : 'cancel', `worker failure: ${reply.failure.text ?? reply.failure.condition}`, reply.worker);
                }
                let el: Element;
                try {
                  el = parseXml(reply.stanza!, replyLimits);
                } catch (err) {
                  return fail('internal-server-error', 'cancel', `invalid reply: ${(err as Error).message}`, reply.worker);
                }
                const checked = checkWorkerReply(req, el);
                if (!checked.ok) return fail('internal-server-error', 'cancel', `invalid reply: ${checked.reason}`, reply.worker);
                const inner = checked.value;
                const outcome = inner.attrs.type === 'error' ? 'error' : 'result';
                const condition = outcome === 'error' ? parseErrorElement(inner)?.condition : undefined;
                return answer(inner, outcome, { worker: reply.worker, ...(condition ? { condition } : {}) });
              }
            }
          })
          .catch((err: unknown) => fail('internal-server-error', 'cancel', `broker error: ${(err as Error).message}`));
      },
    );
  };
}


export type { ForwardedRequest };
