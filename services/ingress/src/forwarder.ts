import { context } from '@opentelemetry/api';
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { decodeReply, encodeEnvelope, injectTraceContext, type ReplyEnvelope, type RequestEnvelope } from '@dbroker/bus';

export type ForwardResult =
  | { kind: 'reply'; reply: ReplyEnvelope }
  | { kind: 'no-responders' }
  | { kind: 'timeout' }
  | { kind: 'bus-down'; reason: string }
  | { kind: 'bad-reply'; reason: string };

export interface Forwarder {
  /** Never rejects, and resolves within `timeoutMs` (then with `timeout`): the answer bound rests on it. */
  forward(subject: string, env: RequestEnvelope, timeoutMs: number): Promise<ForwardResult>;
  close(): void;
}

interface Pending {
  resolve: (r: ForwardResult) => void;
  timer: NodeJS.Timeout;
}

/**
 * Request/reply to the worker queue groups over ONE wildcard inbox subscription, with replies matched by
 * a per-request token. nats.js' own `request()` allocates two Error objects (stack traces) per call to
 * report timeouts; on the ingress hot path that was a measurable share of the CPU. The active trace
 * context travels in the headers.
 */
export function createNatsForwarder(nc: NatsConnection, isConnected: () => boolean): Forwarder {
  const inbox = createInbox();
  const pending = new Map<string, Pending>();
  let seq = 0;

  const settle = (token: string, result: ForwardResult) => {
    const p = pending.get(token);
    if (!p) return; // late reply after a timeout: the request was answered already
    pending.delete(token);
    clearTimeout(p.timer);
    p.resolve(result);
  };

  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg: Msg) => {
      if (err) return;
      const token = msg.subject.slice(inbox.length + 1);
      // No subscriber on the subject: the server answers the inbox with a 503 status.
      if (msg.headers?.hasError && msg.headers.code === 503) return settle(token, { kind: 'no-responders' });
      const decoded = decodeReply(msg.data);
      settle(token, decoded.ok ? { kind: 'reply', reply: decoded.value } : { kind: 'bad-reply', reason: decoded.reason });
    },
  });

  return {
    forward(subject, env, timeoutMs) {
      if (!isConnected()) return Promise.resolve({ kind: 'bus-down', reason: 'NATS connection is down' });
      const token = (++seq).toString(36);
      return new Promise<ForwardResult>((resolve) => {
        const timer = setTimeout(() => settle(token, { kind: 'timeout' }), timeoutMs);
        pending.set(token, { resolve, timer });
        try {
          nc.publish(subject, encodeEnvelope(env), { reply: `${inbox}.${token}`, headers: injectTraceContext(context.active()) });
        } catch (err) {
          settle(token, { kind: 'bus-down', reason: (err as Error).message });
        }
      });
    },
    close() {
      sub.unsubscribe();
      for (const token of [...pending.keys()]) settle(token, { kind: 'bus-down', reason: 'forwarder closed' });
    },
  };
}
