import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_EVENTS_STREAM_LIMITS, ensureEventsStream, type BusLogger } from '@dbroker/bus';
import { appendEvent, appendEvents, isPermanentDbError, type Database } from '@dbroker/store';
import type { AuditEvent } from '@dbroker/bus';
import type { ProjectorConfig } from './config';
import { decodeAuditMessage } from './decode';

/** What became of one stream message. */
export type MessageOutcome =
  /** new event, stored and projected, acked */
  | 'projected'
  /** event already stored (redelivery), acked */
  | 'duplicate'
  /** not an audit event, acked and dropped */
  | 'invalid'
  /** the database refuses this event for good (data error), terminated */
  | 'failed'
  /** database unavailable: handed back (nak with delay) for a later redelivery */
  | 'retried';

export interface ProjectorCounters {
  projected: number;
  duplicates: number;
  invalid: number;
  failed: number;
  retried: number;
}

export interface ProjectorLag {
  running: boolean;
  /** Stream messages not yet delivered to this consumer, as of the last delivery (null before the first). */
  pending: number | null;
  /** The last database attempt failed: the projector is waiting to retry. */
  failing: boolean;
  consecutiveFailures: number;
  lastError: string | null;
  lastProjectedAt: string | null;
}

export interface Projector {
  /** Ensures the stream and the durable consumer, then consumes in the background. */
  start(): Promise<void>;
  /** Finishes the message in hand, hands buffered ones back, and stops. */
  stop(): Promise<void>;
  counters(): ProjectorCounters;
  lagging(): ProjectorLag;
}

export type ProjectorSettings = Partial<Pick<ProjectorConfig, 'EVENTS_STREAM_MAX_AGE_MS' | 'EVENTS_STREAM_MAX_BYTES'>> & Pick<
  ProjectorConfig,
  'EVENTS_STREAM' | 'EVENTS_SUBJECT_PREFIX' | 'PROJECTOR_DURABLE' | 'PROJECTOR_BATCH' | 'PROJECTOR_RETRY_DELAY_MS' | 'PROJECTOR_ACK_WAIT_MS'
>;

export interface ProjectorOptions {
  nc: NatsConnection;
  db: Database;
  config: ProjectorSettings;
  logger: BusLogger;
  /** Called once per message (metrics). */
  onOutcome?: (outcome: MessageOutcome) => void;
}

const NS_PER_MS = 1_000_000;

/**
 * Projects the audit event stream into Postgres: a durable pull consumer with explicit acks; each event is
 * stored and projected in one transaction (`appendEvent`, idempotent by event id) and acked afterwards, so
 * a crash at any point leads to a redelivery, never to a lost or doubled projection.
 *
 * On a database error the message is handed back with a delay (nak), the rest of the pulled batch too, and
 * consuming pauses for that delay: redeliveries come before newer messages, which keeps the order mostly
 * intact (the `grants` projection is order-sensitive; `audit_log` is not).
 */
export function createProjector({ nc, db, config, logger, onOutcome }: ProjectorOptions): Projector {
  const stream = config.EVENTS_STREAM;
  const durable = config.PROJECTOR_DURABLE;
  const retryDelayMs = config.PROJECTOR_RETRY_DELAY_MS;
  const counters: ProjectorCounters = { projected: 0, duplicates: 0, invalid: 0, failed: 0, retried: 0 };
  const lag: ProjectorLag = { running: false, pending: null, failing: false, consecutiveFailures: 0, lastError: null, lastProjectedAt: null };

  let running = false;
  let consumer: Consumer | null = null;
  let current: ConsumerMessages | null = null;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const count = (outcome: MessageOutcome) => {
    const key = outcome === 'duplicate' ? 'duplicates' : outcome;
    counters[key]++;
    onOutcome?.(outcome);
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  async function ensureConsumer(): Promise<Consumer> {
    const limits = {
      maxAgeMs: config.EVENTS_STREAM_MAX_AGE_MS ?? DEFAULT_EVENTS_STREAM_LIMITS.maxAgeMs,
      maxBytes: config.EVENTS_STREAM_MAX_BYTES ?? DEFAULT_EVENTS_STREAM_LIMITS.maxBytes,
    };
    await ensureEventsStream(nc, stream, config.EVENTS_SUBJECT_PREFIX, limits, logger);
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.consumers.info(stream, durable);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      try {
        await jsm.consumers.add(stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: `${config.EVENTS_SUBJECT_PREFIX}.>`,
          ack_wait: config.PROJECTOR_ACK_WAIT_MS * NS_PER_MS,
          max_deliver: -1,
        });
        logger.info({ stream, durable }, 'created the projector consumer');
      } catch (addErr) {
        // another replica created it meanwhile
        await jsm.consumers.info(stream, durable).catch(() => {
          throw addErr;
        });
      }
    }
    return await jetstream(nc).consumers.get(stream, durable);
  }

  const stored = () => {
    lag.failing = false;
    lag.consecutiveFailures = 0;
    lag.lastProjectedAt = new Date().toISOString();
  };

  /** A transient database failure: the messages go back to the stream and come again after the delay. */
  const retryLater = (err: unknown, msgs: Array<{ m: JsMsg; events: AuditEvent[] }>) => {
    lag.failing = true;
    lag.consecutiveFailures++;
    lag.lastError = err instanceof Error ? err.message : String(err);
    const log = lag.consecutiveFailures === 1 || lag.consecutiveFailures % 50 === 0 ? logger.error : logger.warn;
    const first = msgs[0]!;
    log.call(
      logger,
      { err, eventId: first.events[0]!.id, messages: msgs.length, streamSeq: first.m.seq, deliveries: first.m.info.deliveryCount, retryDelayMs, consecutiveFailures: lag.consecutiveFailures },
      'cannot store audit event; will retry',
    );
    for (const { m } of msgs) m.nak(retryDelayMs);
  };

  /**
   * One message's events after the database refused its batch for good: stored alone, and if that is
   * refused too, event by event, so that only the poison event is dropped (a lone one is terminated).
   */
  async function storeAlone(m: JsMsg, events: AuditEvent[]): Promise<MessageOutcome> {
    try {
      const fresh = await appendEvents(db, events);
      m.ack();
      return fresh.some(Boolean) ? 'projected' : 'duplicate';
    } catch (err) {
      if (!isPermanentDbError(err)) throw err;
      if (events.length === 1) {
        logger.error({ err, eventId: events[0]!.id, type: events[0]!.type, streamSeq: m.seq }, 'database refuses this event; dropped from the stream');
        m.term(); // no reason text: nats-server < 2.10.4 ignores '+TERM <reason>'
        return 'failed';
      }
      let any = false;
      for (const e of events) {
        try {
          any = (await appendEvent(db, e)) || any;
        } catch (oneErr) {
          if (!isPermanentDbError(oneErr)) throw oneErr;
          logger.error({ err: oneErr, eventId: e.id, type: e.type, streamSeq: m.seq }, 'database refuses this event; dropped');
        }
      }
      m.ack();
      return any ? 'projected' : 'failed';
    }
  }

  /**
   * Projects the messages that arrived together in one transaction (one commit instead of one per event).
   * If the database refuses the batch for good, each message is stored alone so that only the poison one
   * is dropped; a transient failure hands the whole batch back.
   */
  async function projectBatch(batch: JsMsg[]): Promise<MessageOutcome[]> {
    const valid: Array<{ m: JsMsg; events: AuditEvent[] }> = [];
    const outcomes = new Map<JsMsg, MessageOutcome>();
    for (const m of batch) {
      lag.pending = m.info.pending;
      const decoded = decodeAuditMessage(m.data);
      if (decoded.ok) {
        for (const reason of decoded.invalid) logger.warn({ subject: m.subject, streamSeq: m.seq, reason }, 'invalid audit event in a batch dropped');
        valid.push({ m, events: decoded.events });
      } else {
        logger.warn({ subject: m.subject, streamSeq: m.seq, reason: decoded.reason }, 'invalid audit event dropped');
        m.ack();
        outcomes.set(m, 'invalid');
      }
    }
    if (valid.length === 0) return batch.map((m) => outcomes.get(m)!);
    try {
      const fresh = await appendEvents(db, valid.flatMap((v) => v.events));
      let i = 0;
      for (const v of valid) {
        const mine = fresh.slice(i, (i += v.events.length));
        v.m.ack();
        outcomes.set(v.m, mine.some(Boolean) ? 'projected' : 'duplicate');
      }
      stored();
    } catch (err) {
      if (!isPermanentDbError(err)) {
        retryLater(err, valid);
        for (const v of valid) outcomes.set(v.m, 'retried');
      } else {
        for (const [i, v] of valid.entries()) {
          try {
            outcomes.set(v.m, await storeAlone(v.m, v.events));
          } catch (aloneErr) {
            const rest = valid.slice(i);
            retryLater(aloneErr, rest);
            for (const r of rest) outcomes.set(r.m, 'retried');
            break;
          }
        }
      }
    }
    return batch.map((m) => outcomes.get(m)!);
  }

  function watch(messages: ConsumerMessages): void {
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
          logger.warn({ status: s }, 'events consumer lost; recreating it');
          consumer = null;
          void messages.close();
        } else if (s.type === 'heartbeats_missed' || s.type === 'exceeded_limits' || s.type === 'no_responders') {
          logger.warn({ status: s }, 'events consumer status');
        }
      }
    })().catch(() => undefined);
  }

  async function run(): Promise<void> {
    while (running) {
      let backingOff = false;
      try {
        consumer ??= await ensureConsumer();
        const messages = await consumer.consume({ max_messages: config.PROJECTOR_BATCH });
        current = messages;
        watch(messages);
        const batch: JsMsg[] = [];
        for await (const m of messages) {
          if (!running) {
            try {
              m.nak(); // stopping: another replica can take it at once
            } catch {
              // connection already closed: ack_wait hands it back instead
            }
            continue;
          }
          if (backingOff) {
            m.nak(retryDelayMs);
            count('retried');
            continue;
          }
          batch.push(m);
          // Gather what has already arrived, then commit it together.
          if (messages.getPending() > 0 && batch.length < config.PROJECTOR_BATCH) continue;
          const outcomes = await projectBatch(batch.splice(0));
          outcomes.forEach(count);
          if (outcomes.includes('retried')) {
            backingOff = true;
            void messages.close(); // what is already buffered is handed back above
          }
        }
      } catch (err) {
        logger.error({ err, stream, durable }, 'events consumer failed; restarting');
        consumer = null;
        backingOff = true;
      } finally {
        current = null;
      }
      // the consume ended while we still run (database error, consumer lost, ...): do not spin
      if (running) await pause(backingOff ? retryDelayMs : Math.min(retryDelayMs, 1_000));
    }
  }

  return {
    async start() {
      if (running) return;
      consumer = await ensureConsumer();
      running = true;
      lag.running = true;
      loop = run().finally(() => {
        lag.running = false;
      });
      logger.info({ stream, durable, batch: config.PROJECTOR_BATCH }, 'projector consuming');
    },
    async stop() {
      if (!running) return;
      running = false;
      wake?.();
      await current?.close();
      await loop;
      loop = null;
      logger.info({ ...counters }, 'projector stopped');
    },
    counters: () => ({ ...counters }),
    lagging: () => ({ ...lag }),
  };
}
