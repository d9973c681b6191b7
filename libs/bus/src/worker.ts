import { SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { createBoundedRunner } from './bounded-runner';
import { decodeRequest, encodeEnvelope, type RequestEnvelope } from './envelope';
import { extractTraceContext } from './trace-context';
import { isDeadlineExceeded, withDeadline } from './deadline';
import type { BusLogger } from './logger';

/** What a worker kind advertises for disco nesting (XEP-0355 §"Disco nesting"). */
export interface WorkerFeatures {
  identities: Array<{ category: string; type: string; name?: string }>;
  features: string[];
}

export type WorkerHandler = (req: RequestEnvelope) => Promise<string>;

export interface WorkerOptions {
  nc: NatsConnection;
  /** Request subjects to serve, usually `<prefix>.req.*.<route>` for each route of the kind. */
  subjects: string[];
  /** Subjects on which this kind answers feature queries, with the features to answer. */
  featureSubjects?: string[];
  features?: WorkerFeatures;
  /** Queue group: every replica of one worker kind shares it, so each request goes to exactly one. */
  queue: string;
  /** Upper bound of requests handled at once by this replica. */
  concurrency: number;
  workerId: string;
  handle: WorkerHandler;
  logger: BusLogger;
  tracer?: Tracer;
  /** Requests waiting for a free slot, at most (default 1024); beyond it a request is refused at once. */
  maxQueued?: number;
  /** The same bound in bytes of the waiting envelopes (default 32 MiB). */
  maxQueuedBytes?: number;
  /** Called once per handled request, for metrics. */
  onHandled?: (outcome: 'replied' | 'failed' | 'expired' | 'invalid' | 'overloaded', seconds: number) => void;
}

export const DEFAULT_WORKER_QUEUE_MAX = 1024;
export const DEFAULT_WORKER_QUEUE_BYTES = 32 * 1024 * 1024;

export interface WorkerHandle {
  inflight(): number;
  /** Stops taking requests (unsubscribe via drain) and waits for the ones in hand to be answered. */
  stop(): Promise<void>;
}

/**
 * Serves delegated requests from a NATS queue group with bounded concurrency. Each request is answered
 * exactly once: the handler's reply stanza, or a `failure` envelope (the ingress turns it into a stanza
 * error). Requests whose deadline has passed are dropped: the ingress has already answered them.
 * Requests beyond `concurrency` wait in a queue bounded in count and bytes (the client library's own
 * buffer is not used: messages are taken as they arrive); beyond it a request is answered at once with
 * `resource-constraint`.
 */
export function startWorker(opts: WorkerOptions): WorkerHandle {
  const { nc, queue, concurrency, workerId, logger } = opts;
  const tracer = opts.tracer ?? trace.getTracer('@dbroker/bus');
  const subs: Subscription[] = [];

  const maxQueued = opts.maxQueued ?? DEFAULT_WORKER_QUEUE_MAX;
  const maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_WORKER_QUEUE_BYTES;
  const runner = createBoundedRunner({
    concurrency,
    maxQueued,
    maxQueuedBytes,
    run: (msg) => handleOne(msg).catch((err: unknown) => logger.error({ err, subject: msg.subject }, 'worker request failed outside its handler')),
    onOverflow: (msg) => {
      const decoded = decodeRequest(msg.data);
      if (msg.reply) msg.respond(encodeEnvelope({ v: 1, requestId: decoded.ok ? decoded.value.requestId : 'invalid', worker: workerId, failure: { condition: 'resource-constraint', text: 'worker overloaded' } }));
      opts.onHandled?.('overloaded', 0);
    },
    reportOverflow: ({ count, waiting, waitingBytes }) =>
      logger.warn({ refused: count, waiting, waitingBytes, maxQueued, maxQueuedBytes }, 'worker queue full: requests refused (resource-constraint)'),
  });

  const handleOne = async (msg: Msg) => {
    const started = performance.now();
    const decoded = decodeRequest(msg.data);
    if (!decoded.ok) {
      logger.warn({ subject: msg.subject, reason: decoded.reason }, 'invalid request envelope');
      if (msg.reply) msg.respond(encodeEnvelope({ v: 1, requestId: 'invalid', worker: workerId, failure: { condition: 'bad-request', text: decoded.reason } }));
      opts.onHandled?.('invalid', (performance.now() - started) / 1000);
      return;
    }
    const req = decoded.value;
    if (Date.now() > req.deadline) {
      logger.warn({ requestId: req.requestId, subject: msg.subject }, 'request expired before handling; dropped (the ingress answered it)');
      opts.onHandled?.('expired', (performance.now() - started) / 1000);
      return;
    }
    const parent = extractTraceContext(msg.headers);
    await tracer.startActiveSpan(
      `worker ${queue} ${req.namespace}`,
      { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject, 'xmpp.namespace': req.namespace, 'xmpp.iq.type': req.iqType, 'dbroker.request_id': req.requestId, 'dbroker.worker': workerId } },
      parent,
      async (span) => {
        try {
          // the deadline reaches every transaction the handler opens (libs/store raw.ts)
          const stanza = await withDeadline(req.deadline, () => opts.handle(req));
          msg.respond(encodeEnvelope({ v: 1, requestId: req.requestId, worker: workerId, stanza }));
          opts.onHandled?.('replied', (performance.now() - started) / 1000);
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR });
          if (isDeadlineExceeded(err)) {
            logger.warn({ requestId: req.requestId, reason: err.message }, 'request deadline passed during handling; nothing written (the ingress answered it)');
            msg.respond(encodeEnvelope({ v: 1, requestId: req.requestId, worker: workerId, failure: { condition: 'internal-server-error', text: err.message } }));
            opts.onHandled?.('expired', (performance.now() - started) / 1000);
            return;
          }
          logger.error({ err, requestId: req.requestId }, 'worker handler failed');
          try {
            msg.respond(encodeEnvelope({ v: 1, requestId: req.requestId, worker: workerId, failure: { condition: 'internal-server-error', text: String((err as Error)?.message ?? err) } }));
          } catch (respondErr) {
            // NATS closed, or the failure itself unsendable: the ingress answers at its deadline.
            logger.error({ err: respondErr, requestId: req.requestId }, 'worker failure reply could not be sent');
          }
          opts.onHandled?.('failed', (performance.now() - started) / 1000);
        } finally {
          span.end();
        }
      },
    );
  };

  for (const subject of opts.subjects) {
    subs.push(
      nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) return logger.error({ err, subject }, 'worker subscription error');
          try {
            runner.admit(msg);
          } catch (admitErr) {
            logger.error({ err: admitErr, subject: msg.subject }, 'worker request could not be admitted; dropped');
          }
        },
      }),
    );
  }
  for (const subject of opts.featureSubjects ?? []) {
    const features = opts.features ?? { identities: [], features: [] };
    subs.push(
      nc.subscribe(subject, {
        queue,
        callback: (_err, msg) => {
          try {
            msg.respond(JSON.stringify(features));
          } catch (err) {
            logger.warn({ err, subject }, 'features reply could not be sent');
          }
        },
      }),
    );
  }
  logger.info({ subjects: opts.subjects, queue, concurrency, workerId }, 'worker listening');

  return {
    inflight: () => runner.active(),
    stop: async () => {
      await Promise.allSettled(subs.map((s) => s.drain()));
      await runner.idle();
      logger.info({ workerId }, 'worker stopped');
    },
  };
}
