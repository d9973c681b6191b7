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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelope(value: RequestEnvelope | ReplyEnvelope): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function decodeWith<T>(schema: z.ZodType<T>, data: Uint8Array): Decoded<T> {
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
