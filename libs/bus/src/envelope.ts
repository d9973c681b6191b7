import { z } from 'zod';

/**
 * The message the ingress publishes for one delegated request, and the reply a worker sends back.
 * JSON over NATS; the W3C trace context travels in the NATS headers, not here.
 */
export const RequestEnvelopeSchema = z.object({
  v: z.literal(1),
  /** Unique per forwarded IQ; also the idempotency key for sets (a retried request is not applied twice). */
  requestId: z.string().min(1).max(200),
  /** Server domain that forwarded the request. */
  server: z.string().min(1),
  /** Payload namespace (namespace of the inner IQ's first child). */
  namespace: z.string().min(1),
  /** Requester: inner `from`, a full or bare JID. */
  from: z.string().min(1),
  /** Target: inner `to`, or the requester's bare JID when the client sent none. */
  to: z.string().min(1),
  iqType: z.enum(['get', 'set']),
  iqId: z.string(),
  /** The inner IQ as XML text (jabber:client, `to` filled in). */
  stanza: z.string().min(1),
  /** Epoch ms after which the ingress will have answered with an error: workers skip expired work. */
  deadline: z.number().int().positive(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;

export const ReplyEnvelopeSchema = z
  .object({
    v: z.literal(1),
    requestId: z.string().min(1),
    /** Identity of the worker instance that answered (for the audit log). */
    worker: z.string().min(1),
    /** The inner IQ reply as XML text: type result or error, id/from/to as for the original request. */
    stanza: z.string().min(1).optional(),
    /** The worker failed before it could build a reply; the ingress answers with this condition. Text stays internal. */
    failure: z.object({ condition: z.string().min(1), text: z.string().optional() }).optional(),
  })
  .refine((r) => (r.stanza === undefined) !== (r.failure === undefined), { message: 'exactly one of stanza or failure' });
export type ReplyEnvelope = z.infer<typeof ReplyEnvelopeSchema>;

/**
 * A stanza a worker asks the ingress to send on the component link, on `outboundSubject(prefix, server)`.
 * Only `kind: 'message'` exists: an XEP-0356 privileged message on behalf of a local user. `stanza` is
 * `<message xmlns='jabber:client' from='user@domain' to='...'>...</message>`: `from` a BARE JID of the
 * served domain, `to` any valid JID. The ingress wraps it in the privilege version the server advertised.
 */
export const OutboundEnvelopeSchema = z.object({
  v: z.literal(1),
  kind: z.literal('message'),
  stanza: z.string().min(1),
  /** Identity of the worker instance (for the audit log). */
  worker: z.string().min(1).max(200),
  /** The delegated request this message belongs to, if any (for the audit log). */
  requestId: z.string().min(1).max(200).optional(),
});
export type OutboundEnvelope = z.infer<typeof OutboundEnvelopeSchema>;

/**
 * Why the ingress refused an outbound stanza:
 * - `forbidden`: `from` is not a user of the served domain (another domain, the domain itself, missing);
 * - `not-allowed`: `from` is a full JID (privileged messages come from bare JIDs only);
 * - `no-permission`: the server did not grant `message='outgoing'` on this stream (or has not advertised yet);
 * - `offline`: the component link is down, or no ingress holds it, or no ack came in time;
 * - `bad-request`: the envelope or the stanza is malformed (not a message, no `to`, smuggled stanzas, ...).
 */
export const OUTBOUND_ERRORS = ['forbidden', 'not-allowed', 'no-permission', 'offline', 'bad-request'] as const;
export type OutboundError = (typeof OUTBOUND_ERRORS)[number];

/**
 * The ingress's answer to each outbound request. `ok: true` means the stanza has been written to the
 * XMPP socket, after everything the ingress sent on that link before it: a worker that awaits the ack of
 * each message before replying to an IQ knows the server gets the messages first.
 */
export const OutboundAckSchema = z.discriminatedUnion('ok', [
  z.object({ v: z.literal(1), ok: z.literal(true) }),
  z.object({ v: z.literal(1), ok: z.literal(false), error: z.enum(OUTBOUND_ERRORS), reason: z.string() }),
]);
export type OutboundAck = z.infer<typeof OutboundAckSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelope(value: RequestEnvelope | ReplyEnvelope | OutboundEnvelope | OutboundAck): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** JSON bytes through a zod schema: the value, or why not (never throws). */
export function decodeWith<T>(schema: z.ZodType<T>, data: Uint8Array): Decoded<T> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: 'envelope is not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `envelope invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}` };
  return { ok: true, value: parsed.data };
}

export const decodeRequest = (data: Uint8Array): Decoded<RequestEnvelope> => decodeWith(RequestEnvelopeSchema, data);
export const decodeReply = (data: Uint8Array): Decoded<ReplyEnvelope> => decodeWith(ReplyEnvelopeSchema, data);
export const decodeOutbound = (data: Uint8Array): Decoded<OutboundEnvelope> => decodeWith(OutboundEnvelopeSchema, data);
export const decodeOutboundAck = (data: Uint8Array): Decoded<OutboundAck> => decodeWith(OutboundAckSchema, data);
