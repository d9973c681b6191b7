import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { capAuditFields } from './event-caps';
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
  /** The same bound in bytes (serialized JSON) of the buffered events (default 64 MiB). */
  maxBufferedBytes?: number;
  /** Most events packed into one stream message. */
  maxBatch?: number;
  /**
   * Most bytes in one stream message (default: 512 KiB, or half the server's max_payload when smaller). An
   * event larger than this on its own (impossible with the field caps) is dropped and counted.
   */
  maxBatchBytes?: number;
  onDropped?: (n: number) => void;
}

export const DEFAULT_AUDIT_BUFFER_EVENTS = 100_000;
export const DEFAULT_AUDIT_BUFFER_BYTES = 64 * 1024 * 1024;
const DEFAULT_BATCH_BYTES = 512 * 1024;
/** `{"batch":[` and `]}` around the events of a batch message. */
const BATCH_OVERHEAD = 12;

/** An event as it waits in the buffer, serialized once. */
interface Queued {
  ev: AuditEvent;
  json: string;
  bytes: number;
}

export interface EventPublisher {
  /** Queues an event and returns at once: the caller never waits on the stream (or on Postgres behind it). */
  emit(input: AuditEventInput): AuditEvent;
  pending(): number;
  /** Bytes (serialized JSON) of the events waiting in the buffer, in flight included (optional for fakes). */
  pendingBytes?(): number;
  /** Waits until the buffer is empty or the timeout passes. */
  flush(timeoutMs: number): Promise<boolean>;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Appends audit events to the durable JetStream stream. The event id is the JetStream message id, so a
 * publish retried after a lost ack is stored once. Failed publishes are retried with capped backoff.
 * Every event is cut to the field caps (event-caps.ts) when emitted; the buffer is bounded in events and in
 * bytes, and drops its oldest events beyond either bound (counted, logged).
 */
export function createEventPublisher(opts: EventPublisherOptions): EventPublisher {
  const { nc, prefix, server, component, logger } = opts;
  const maxBuffered = opts.maxBuffered ?? DEFAULT_AUDIT_BUFFER_EVENTS;
  const maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_AUDIT_BUFFER_BYTES;
  const maxBatch = opts.maxBatch ?? 256;
  const serverMax = nc.info?.max_payload;
  const maxBatchBytes = opts.maxBatchBytes ?? (serverMax ? Math.min(DEFAULT_BATCH_BYTES, Math.floor(serverMax / 2)) : DEFAULT_BATCH_BYTES);
  const stream = createStreamPublisher(nc);
  const queue: Queued[] = [];
  let queuedBytes = 0;
  let inflight = 0;
  let inflightBytes = 0;
  let droppedSinceLog = 0;
  let lastDropLog = 0;

  const dropped = (n: number, why: string, details: object) => {
    opts.onDropped?.(n);
    droppedSinceLog += n;
    // one line per second at most while dropping
    const t = Date.now();
    if (t - lastDropLog >= 1000) {
      logger.error({ ...details, dropped: droppedSinceLog, maxBuffered, maxBufferedBytes }, why);
      droppedSinceLog = 0;
      lastDropLog = t;
    }
  };
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
    let n = 0;
    let bytes = 0;
    let size = BATCH_OVERHEAD;
    while (n < queue.length && n < maxBatch) {
      const b = queue[n]!.bytes;
      if (n > 0 && size + b + 1 > maxBatchBytes) break;
      size += b + 1;
      bytes += b;
      n++;
    }
    const batch = queue.splice(0, n);
    queuedBytes -= bytes;
    const one = batch.length === 1 ? batch[0]! : undefined;
    const subject = one ? eventSubject(prefix, one.ev.type) : `${prefix}.batch`;
    const body = one ? one.json : `{"batch":[${batch.map((q) => q.json).join(',')}]}`;
    // A batch stored twice (its ack lost, then retried) is harmless: the projector keeps each event id once.
    const msgID = one ? one.ev.id : `batch-${batch[0]!.ev.id}-${batch.length}-${++batchSeq}`;
    inflight = batch.length;
    inflightBytes = bytes;
    stream
      .publish(subject, body, msgID, 5000)
      .then(() => {
        failures = 0;
      })
      .catch((err: unknown) => {
        queue.unshift(...batch);
        queuedBytes += inflightBytes;
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
        inflightBytes = 0;
        pump();
        notifyDrained();
      });
  };

  return {
    emit(input) {
      // typed by AuditEventInput; the projector validates every event it reads (AuditEventSchema)
      const ev = capAuditFields({ ...input, id: randomUUID(), at: new Date().toISOString(), server, component } as AuditEvent);
      const json = JSON.stringify(ev);
      const bytes = Buffer.byteLength(json);
      if (bytes + BATCH_OVERHEAD > maxBatchBytes) {
        dropped(1, 'audit event larger than a stream message: dropped', { type: ev.type, bytes, maxBatchBytes });
        return ev;
      }
      let gone = 0;
      while (queue.length > 0 && (queue.length >= maxBuffered || queuedBytes + bytes > maxBufferedBytes)) {
        queuedBytes -= queue.shift()!.bytes;
        gone++;
      }
      if (gone > 0) dropped(gone, 'audit buffer full: oldest events dropped', { pendingBytes: queuedBytes + inflightBytes });
      queue.push({ ev, json, bytes });
      queuedBytes += bytes;
      schedulePump();
      return ev;
    },
    pending: () => queue.length + inflight,
    pendingBytes: () => queuedBytes + inflightBytes,
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
