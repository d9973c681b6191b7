import { context } from '@opentelemetry/api';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import { decodeReply, encodeEnvelope, injectTraceContext, type ReplyEnvelope, type RequestEnvelope } from '@dbroker/bus';

export type ForwardResult =
  | { kind: 'reply'; reply: ReplyEnvelope }
  | { kind: 'no-responders' }
  | { kind: 'timeout' }
  | { kind: 'bus-down'; reason: string }
  | { kind: 'bad-reply'; reason: string };

export interface Forwarder {
  forward(subject: string, env: RequestEnvelope, timeoutMs: number): Promise<ForwardResult>;
}

/** NATS request/reply to the worker queue group; the active trace context travels in the headers. */
export function createNatsForwarder(nc: NatsConnection, isConnected: () => boolean): Forwarder {
  return {
    async forward(subject, env, timeoutMs) {
      if (!isConnected()) return { kind: 'bus-down', reason: 'NATS connection is down' };
      try {
        const msg = await nc.request(subject, encodeEnvelope(env), { timeout: timeoutMs, headers: injectTraceContext(context.active()) });
        const decoded = decodeReply(msg.data);
        if (!decoded.ok) return { kind: 'bad-reply', reason: decoded.reason };
        return { kind: 'reply', reply: decoded.value };
      } catch (err) {
        if (err instanceof errors.RequestError && err.isNoResponders()) return { kind: 'no-responders' };
        if (err instanceof errors.NoRespondersError) return { kind: 'no-responders' };
        if (err instanceof errors.TimeoutError || (err instanceof errors.RequestError && err.cause instanceof errors.TimeoutError)) return { kind: 'timeout' };
        return { kind: 'bus-down', reason: (err as Error).message };
      }
    },
  };
}
