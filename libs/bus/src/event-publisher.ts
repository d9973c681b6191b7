import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type AuditEvent, type AuditEventInput } from './events';
import { createStreamPublisher } from './stream-publish';
import type { BusLogger } from './logger';

export interface EventPublisherOptions {
  nc: NatsConnection;
  /** Subject prefix of the events stream (`<prefix>.<type>`). */
  prefix: string;
  server: string;
  component: string;
  logger: BusLogger;
  /** Events kept in memory while JetStream is unreachable; beyond it the oldest are dropped (and counted). */
  maxBuffered?: number;
  /** Most events packed into one stream message. */
  maxBatch?: number;
  onDropped?: (n: number) => void;
}

export interface EventPublisher {
  /** Queues an event and returns at once: the caller never waits on the stream (or on Postgres behind it). */
  emit(input: AuditEventInput): AuditEvent;
  pending(): number;
  /** Waits until the buffer is empty or the timeout passes. */
  flush(timeoutMs: number): Promise<boolean>;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Appends audit events to the durable JetStream stream. The event id is the JetStream message id, so a
 * publish retried after a lost ack is stored once. Failed publishes are retried with capped backoff.
 */
export function createEventPublisher(opts: EventPublisherOptions): EventPublisher {
  const { nc, prefix, server, component, logger } = opts;
  const maxBuffered = opts.maxBuffered ?? 100_000;
  const maxBatch = opts.maxBatch ?? 256;
  const stream = createStreamPublisher(nc);
  const queue: AuditEvent[] = [];
  let inflight = 0;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  const drainedWaiters: Array<() => void> = [];

  const notifyDrained = () => {
    if (queue.length === 0 && inflight === 0) drainedWaiters.splice(0).forEach((r) => r());
  };

  let batchSeq = 0;
  // Events emitted in the same turn of the event loop (several requests in one socket read) leave together.
  let scheduled = false;
  const schedulePump = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };
  const pump = () => {
    if (retryTimer || stopped || inflight > 0 || queue.length === 0) return;
    // One publish in flight at a time keeps the stream in emission order (grants depend on it); what
    // queues up meanwhile goes out together in the next message, so a busy ingress makes few round trips.
    const batch = queue.splice(0, maxBatch);
    const one = batch.length === 1 ? batch[0]! : undefined;
    const subject = one ? eventSubject(prefix, one.type) : `${prefix}.batch`;
    const body = one ? JSON.stringify(one) : JSON.stringify({ batch });
    // A batch stored twice (its ack lost, then retried) is harmless: the projector keeps each event id once.
    const msgID = one ? one.id : `batch-${batch[0]!.id}-${batch.length}-${++batchSeq}`;
    inflight = batch.length;
    stream
      .publish(subject, body, msgID, 5000)
      .then(() => {
        failures = 0;
      })
      .catch((err: unknown) => {
        queue.unshift(...batch);
        failures++;
        if (failures === 1 || failures % 100 === 0) logger.warn({ err, pending: queue.length }, 'audit event publish failed; will retry');
        if (!retryTimer && !stopped) {
          const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2);
          retryTimer = setTimeout(() => {
            retryTimer = null;
            pump();
          }, delay);
        }
      })
      .finally(() => {
        inflight = 0;
        pump();
        notifyDrained();
      });
  };

  return {
    emit(input) {
      // typed by AuditEventInput; the projector validates every event it reads (AuditEventSchema)
      const ev = { ...input, id: randomUUID(), at: new Date().toISOString(), server, component } as AuditEvent;
      if (queue.length >= maxBuffered) {
        queue.shift();
        opts.onDropped?.(1);
        logger.error({ maxBuffered }, 'audit buffer full: oldest event dropped');
      }
      queue.push(ev);
      schedulePump();
      return ev;
    },
    pending: () => queue.length + inflight,
    async flush(timeoutMs) {
      if (queue.length === 0 && inflight === 0) return true;
      return await Promise.race([
        new Promise<boolean>((r) => drainedWaiters.push(() => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref()),
      ]);
    },
    async stop(timeoutMs = 5000) {
      const ok = await this.flush(timeoutMs);
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      stream.close();
      if (!ok) logger.error({ pending: queue.length + inflight }, 'stopped with audit events not yet stored in the stream');
    },
  };
}
