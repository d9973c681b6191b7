import { createInbox, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';

/**
 * JetStream publishes with a PubAck, over ONE wildcard inbox subscription (replies matched by token), as the
 * ingress's request forwarder does: `jetstream().publish()` goes through nats.js' `request()`, which builds
 * two Error objects (stack traces) per call, a visible share of the ingress's CPU on the audit path. The
 * message id (`Nats-Msg-Id`) makes a publish retried after a lost ack a duplicate the stream drops.
 */
export interface StreamPublisher {
  /** Resolves once the stream stored the message (or already had its id); rejects with the reason otherwise. */
  publish(subject: string, body: string, msgId: string, timeoutMs: number): Promise<void>;
  close(): void;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** What a PubAck says (JetStream API: `{ stream, seq, duplicate? }` or `{ error: { code, description } }`). */
export function readPubAck(data: Uint8Array): { ok: true } | { ok: false; reason: string } {
  let ack: { stream?: unknown; seq?: unknown; error?: { code?: unknown; description?: unknown } };
  try {
    ack = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, reason: 'PubAck is not JSON' };
  }
  if (ack.error) return { ok: false, reason: `stream refused the message: ${String(ack.error.description ?? ack.error.code)}` };
  if (typeof ack.stream !== 'string' || typeof ack.seq !== 'number') return { ok: false, reason: 'PubAck without stream and seq' };
  return { ok: true };
}

export function createStreamPublisher(nc: NatsConnection): StreamPublisher {
  const inbox = createInbox();
  const pending = new Map<string, Pending>();
  let seq = 0;
  const settle = (token: string, err?: Error) => {
    const p = pending.get(token);
    if (!p) return;
    pending.delete(token);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  };
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg: Msg) => {
      if (err) return;
      const token = msg.subject.slice(inbox.length + 1);
      if (msg.headers?.hasError && msg.headers.code === 503) return settle(token, new Error(`no stream takes ${msg.subject} (no responders)`));
      const ack = readPubAck(msg.data);
      settle(token, ack.ok ? undefined : new Error(ack.reason));
    },
  });
  return {
    publish(subject, body, msgId, timeoutMs) {
      const token = (++seq).toString(36);
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(token, new Error(`no PubAck within ${timeoutMs} ms`)), timeoutMs);
        pending.set(token, { resolve, reject, timer });
        try {
          const h = natsHeaders();
          h.set('Nats-Msg-Id', msgId);
          nc.publish(subject, body, { reply: `${inbox}.${token}`, headers: h });
        } catch (err) {
          settle(token, err as Error);
        }
      });
    },
    close() {
      sub.unsubscribe();
      for (const token of [...pending.keys()]) settle(token, new Error('stream publisher closed'));
    },
  };
}
