import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { LinkLogger } from './xmpp-link';

const DRAIN_MS = 1000;

export interface LinkSubscriptionOptions<A> {
  nc: NatsConnection;
  subject: string;
  /** Handles one request and resolves with its answer; must never reject. */
  handle: (data: Uint8Array) => Promise<A>;
  encode: (answer: A) => Uint8Array;
  logger: LinkLogger;
  /** For log lines: what this subject carries ("outbound stanzas", "worker IQs"). */
  what: string;
}

export interface LinkSubscription {
  subscribe(): void;
  unsubscribe(): Promise<void>;
}

/**
 * A NATS request/reply subject that only the ingress holding the component link may take. A plain
 * subscription, not a queue group: the server accepts one connection per component, so exactly one
 * ingress holds the link. Hence subscribe on `online` and drain on `offline`: a standby ingress (or this
 * one while it reconnects) is not subscribed, and workers get `no responders` (`offline`) at once.
 * Requests are handled in arrival order (each handler call starts before the next request is read).
 */
export function createLinkSubscription<A extends { ok: boolean }>(opts: LinkSubscriptionOptions<A>): LinkSubscription {
  const { nc, subject, handle, encode, logger, what } = opts;
  let sub: Subscription | null = null;
  return {
    subscribe(): void {
      if (sub) return;
      try {
        sub = nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err) return logger.warn({ err, subject }, `${what} subscription error`);
            void handle(msg.data).then(
              (answer) => {
                if (!msg.reply) return;
                try {
                  msg.respond(encode(answer));
                } catch (respondErr) {
                  logger.warn({ err: respondErr, subject, ok: answer.ok }, `${what}: answer could not be sent`);
                }
              },
              // `handle` must not reject; if it does anyway, the requester times out instead of the process dying.
              (handleErr: unknown) => logger.error({ err: handleErr, subject }, `${what}: handler failed`),
            );
          },
        });
        logger.info({ subject }, `taking ${what}`);
      } catch (err) {
        logger.error({ err, subject }, `cannot subscribe to ${what}`);
      }
    },
    async unsubscribe(): Promise<void> {
      const current = sub;
      sub = null;
      if (!current || current.isClosed()) return;
      // drain, not unsubscribe: requests already delivered to us are still answered (refused as offline).
      // Bounded: with NATS down the drain's flush would wait for a reconnect.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        current.drain().then(() => true, () => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), DRAIN_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!drained && !current.isClosed()) {
        try {
          current.unsubscribe();
        } catch {
          // connection already closed: nothing is delivered any more
        }
      }
    },
  };
}
