import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

/**
 * NATS request/reply over ONE wildcard inbox subscription per connection, replies matched by a token in
 * the reply subject. nats.js' own `request()` builds two Error objects (with stack traces) per call to
 * report a possible timeout; on the hot paths (every forwarded IQ, every audit batch, every notification)
 * that was a measurable share of the CPU. Never rejects: every outcome is a value.
 */
export type RequestOutcome =
  | { kind: 'reply'; msg: Msg }
  /** No subscriber on the subject: the server answers the inbox with a 503 status. */
  | { kind: 'no-responders' }
  | { kind: 'timeout' }
  | { kind: 'bus-down'; reason: string };

export interface Requester {
  request(subject: string, data: Uint8Array | string, opts: { timeoutMs: number; headers?: MsgHdrs | undefined }): Promise<RequestOutcome>;
  /** Ends the subscription; what is pending resolves `bus-down`. */
  close(): void;
}

interface Pending {
  resolve: (r: RequestOutcome) => void;
  timer: NodeJS.Timeout;
}

export function createRequester(nc: NatsConnection): Requester {
  // The connection's inbox prefix (connectBus `kind`): NATS permissions may allow only that one.
  const inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  const pending = new Map<string, Pending>();
  let seq = 0;
  let closed = false;

  const settle = (token: string, outcome: RequestOutcome) => {
    const p = pending.get(token);
    if (!p) return; // a late reply after a timeout: already answered
    pending.delete(token);
    clearTimeout(p.timer);
    p.resolve(outcome);
  };

  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg: Msg) => {
      if (err) return;
      const token = msg.subject.slice(inbox.length + 1);
      if (msg.headers?.hasError && msg.headers.code === 503) return settle(token, { kind: 'no-responders' });
      settle(token, { kind: 'reply', msg });
    },
  });
  void sub.closed.then(() => {
    closed = true;
    for (const token of [...pending.keys()]) settle(token, { kind: 'bus-down', reason: 'reply subscription closed' });
  });

  return {
    request(subject, data, opts) {
      if (closed || nc.isClosed()) return Promise.resolve({ kind: 'bus-down', reason: 'NATS connection is closed' });
      const token = (++seq).toString(36);
      return new Promise<RequestOutcome>((resolve) => {
        const timer = setTimeout(() => settle(token, { kind: 'timeout' }), opts.timeoutMs);
        pending.set(token, { resolve, timer });
        try {
          nc.publish(subject, data, { reply: `${inbox}.${token}`, ...(opts.headers ? { headers: opts.headers } : {}) });
        } catch (err) {
          settle(token, { kind: 'bus-down', reason: (err as Error).message });
        }
      });
    },
    close() {
      closed = true;
      sub.unsubscribe();
      for (const token of [...pending.keys()]) settle(token, { kind: 'bus-down', reason: 'requester closed' });
    },
  };
}

const shared = new WeakMap<NatsConnection, Requester>();

/** The connection's shared requester (created on first use; it lives as long as the connection). */
export function requesterFor(nc: NatsConnection): Requester {
  let r = shared.get(nc);
  if (!r) {
    r = createRequester(nc);
    shared.set(nc, r);
  }
  return r;
}
