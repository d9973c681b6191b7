import type { NatsConnection } from '@nats-io/transport-node';
import { requesterFor } from './requester';
import { IqRequestEnvelopeSchema, decodeIqResponse, encodeStateEnvelope, type IqRequestEnvelope, type IqResponseEnvelope } from './state-envelopes';

/**
 * Asks the ingress holding the component link to send an IQ for a worker (a privileged roster get, a
 * caps disco#info; see IqRequestEnvelopeSchema) on `iqSubject(prefix, server)` and waits for the answer.
 * Never throws: every failure is a response with `ok: false`.
 * - an envelope that does not match the schema is `bad-request` at once (nothing is sent);
 * - no ingress subscribed (`no responders`), NATS down or an unreadable answer are `offline`;
 * - no answer from the ingress within `natsTimeoutMs` is `timeout`. The ingress itself answers `timeout`
 *   after `env.timeoutMs`, so pass a `natsTimeoutMs` above it (e.g. `env.timeoutMs + 1000`): then this
 *   only happens when the ingress died in between.
 */
export async function requestIq(nc: NatsConnection, subject: string, env: IqRequestEnvelope, natsTimeoutMs: number): Promise<IqResponseEnvelope> {
  const valid = IqRequestEnvelopeSchema.safeParse(env);
  if (!valid.success) {
    return { v: 1, ok: false, error: 'bad-request', reason: `envelope invalid: ${valid.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}` };
  }
  const out = await requesterFor(nc).request(subject, encodeStateEnvelope(valid.data), { timeoutMs: natsTimeoutMs });
  if (out.kind === 'no-responders') return { v: 1, ok: false, error: 'offline', reason: `no ingress holds the component link (no responders on ${subject})` };
  if (out.kind === 'timeout') return { v: 1, ok: false, error: 'timeout', reason: `no answer from the ingress within ${natsTimeoutMs} ms on ${subject}` };
  if (out.kind === 'bus-down') return { v: 1, ok: false, error: 'offline', reason: `bus unavailable: ${out.reason}` };
  const data = out.msg.data;
  const res = decodeIqResponse(data);
  if (!res.ok) return { v: 1, ok: false, error: 'offline', reason: `invalid answer from the ingress: ${res.reason}` };
  return res.value;
}
