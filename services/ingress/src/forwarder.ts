import { context } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/transport-node';
import { createRequester, decodeReply, encodeEnvelope, injectTraceContext, type ReplyEnvelope, type RequestEnvelope } from '@dbroker/bus';

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

/**
 * Request/reply to the worker queue groups through the bus's requester (one inbox subscription, no
 * per-call Error objects); the active trace context travels in the headers.
 */
export function createNatsForwarder(nc: NatsConnection, isConnected: () => boolean): Forwarder {
  const requester = createRequester(nc);
  return {
    async forward(subject, env, timeoutMs) {
      if (!isConnected()) return { kind: 'bus-down', reason: 'NATS connection is down' };
      const out = await requester.request(subject, encodeEnvelope(env), { timeoutMs, headers: injectTraceContext(context.active()) });
      if (out.kind !== 'reply') return out;
      const decoded = decodeReply(out.msg.data);
      return decoded.ok ? { kind: 'reply', reply: decoded.value } : { kind: 'bad-reply', reason: decoded.reason };
    },
    close: () => requester.close(),
  };
}
