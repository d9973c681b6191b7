import { createBoundedRunner, decodePresence, presenceSubjectAnyDomain, type Bus } from '@dbroker/bus';
import type { PresenceStore } from '@dbroker/user-state';
import type { Notifier, NotifierLogger } from './notifier';

/** What this consumer reads of a NATS message. */
interface Msg {
  subject: string;
  data: Uint8Array;
}

/** Presences waiting for a free slot, at most, by default (count and bytes). */
export const DEFAULT_PRESENCE_QUEUE_MAX = 10_000;
export const DEFAULT_PRESENCE_QUEUE_BYTES = 16 * 1024 * 1024;

/**
 * Keeps the shared presence state (Postgres) from the presences the ingress forwards, in the worker
 * kind's queue group (each presence is applied by one replica), and sends the last published items a
 * resource wants when it comes online. Presences are applied with bounded concurrency; their order per
 * resource is kept by the store itself (a presence older than the stored one is ignored). Presences beyond
 * the concurrency wait in a queue bounded in count and bytes; beyond it a presence is dropped (counted as
 * `dropped`, logged at most once a second): the next presence of that resource, or its expiry, corrects it.
 */
export function startPresenceConsumer(opts: {
  nc: Bus['nc'];
  subjectPrefix: string;
  queue: string;
  presence: PresenceStore;
  notifier: Notifier;
  logger: NotifierLogger;
  concurrency: number;
  maxQueued?: number;
  maxQueuedBytes?: number;
  onApplied?: (kind: string) => void;
}) {
  const maxQueued = opts.maxQueued ?? DEFAULT_PRESENCE_QUEUE_MAX;
  const maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_PRESENCE_QUEUE_BYTES;
  const apply = async (msg: Msg): Promise<void> => {
    let decoded: ReturnType<typeof decodePresence>;
    try {
      decoded = decodePresence(msg.data);
    } catch (err) {
      opts.logger.error({ err, subject: msg.subject }, 'presence envelope could not be read; dropped');
      return;
    }
    if (!decoded.ok) {
      opts.logger.warn({ subject: msg.subject, reason: decoded.reason }, 'invalid presence envelope dropped');
      return;
    }
    const env = decoded.value;
    try {
      const outcome = await opts.presence.applyPresence(env);
      opts.onApplied?.(outcome.kind);
      // a delayed presence is the server replaying sessions after the component (re)connected: those
      // resources got their last items when they logged in
      if (outcome.kind === 'initial' && !outcome.delayed) opts.notifier.onInitialPresence(env.server, outcome.fullJid, outcome.caps);
    } catch (err) {
      opts.logger.error({ err, from: env.from }, 'presence not applied');
    }
  };
  const runner = createBoundedRunner({
    concurrency: opts.concurrency,
    maxQueued,
    maxQueuedBytes,
    run: apply,
    onOverflow: () => opts.onApplied?.('dropped'),
    reportOverflow: ({ count, waiting, waitingBytes }) =>
      opts.logger.warn({ dropped: count, waiting, waitingBytes, maxQueued, maxQueuedBytes }, 'presence queue full: presences dropped'),
  });
  const sub = opts.nc.subscribe(presenceSubjectAnyDomain(opts.subjectPrefix), {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) return opts.logger.warn({ err }, 'presence subscription error');
      runner.admit(msg);
    },
  });
  return {
    async stop(): Promise<void> {
      await sub.drain();
      await runner.idle();
    },
  };
}
