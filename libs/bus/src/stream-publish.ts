import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { createRequester } from './requester';

/**
 * JetStream publishes with a PubAck through our own requester (`jetstream().publish()` goes through nats.js'
 * `request()`, which builds two Error objects per call). The message id (`Nats-Msg-Id`) makes a publish
 * retried after a lost ack a duplicate the stream drops.
 */
export interface StreamPublisher {
  /** Resolves once the stream stored the message (or already had its id); rejects with the reason otherwise. */
  publish(subject: string, body: string, msgId: string, timeoutMs: number): Promise<void>;
  close(): void;
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
  const requester = createRequester(nc);
  return {
    async publish(subject, body, msgId, timeoutMs) {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', msgId);
      const out = await requester.request(subject, body, { timeoutMs, headers: h });
      if (out.kind === 'no-responders') throw new Error(`no stream takes ${subject} (no responders)`);
      if (out.kind === 'timeout') throw new Error(`no PubAck within ${timeoutMs} ms`);
      if (out.kind === 'bus-down') throw new Error(out.reason);
      const ack = readPubAck(out.msg.data);
      if (!ack.ok) throw new Error(ack.reason);
    },
    close: () => requester.close(),
  };
}
