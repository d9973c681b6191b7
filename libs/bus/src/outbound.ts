import type { NatsConnection } from '@nats-io/transport-node';
import { requesterFor } from './requester';
import { OutboundEnvelopeSchema, decodeOutboundAck, encodeEnvelope, type OutboundAck, type OutboundEnvelope } from './envelope';

/**
 * Asks the ingress holding the component link to send a privileged message (see OutboundEnvelopeSchema)
 * and waits for its ack. Never throws: every failure is an ack with `ok: false`.
 * - an envelope that does not match the schema is `bad-request` at once (nothing is sent);
 * - no ingress subscribed (`no responders`), no ack within `timeoutMs`, NATS down or an unreadable ack
 *   are `offline`. After a timeout the message may still have been sent: the reason says so.
 *
 * Order: awaiting each ack before sending the next message (or the IQ reply it belongs to) guarantees
 * the server receives them in that order. Messages sent without awaiting also keep their order (one NATS
 * connection delivers in order and the ingress writes synchronously), but a failure in the middle does
 * not stop the ones after it.
 */
export async function sendPrivilegedMessage(nc: NatsConnection, subject: string, env: OutboundEnvelope, timeoutMs: number): Promise<OutboundAck> {
  const valid = OutboundEnvelopeSchema.safeParse(env);
  if (!valid.success) {
    return { v: 1, ok: false, error: 'bad-request', reason: `envelope invalid: ${valid.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}` };
  }
  const out = await requesterFor(nc).request(subject, encodeEnvelope(valid.data), { timeoutMs });
  if (out.kind === 'no-responders') return { v: 1, ok: false, error: 'offline', reason: `no ingress holds the component link (no responders on ${subject})` };
  if (out.kind === 'timeout') return { v: 1, ok: false, error: 'offline', reason: `no ack within ${timeoutMs} ms on ${subject} (the message may or may not have been sent)` };
  if (out.kind === 'bus-down') return { v: 1, ok: false, error: 'offline', reason: `bus unavailable: ${out.reason}` };
  const data = out.msg.data;
  const ack = decodeOutboundAck(data);
  if (!ack.ok) return { v: 1, ok: false, error: 'offline', reason: `invalid ack from the ingress: ${ack.reason}` };
  return ack.value;
}
