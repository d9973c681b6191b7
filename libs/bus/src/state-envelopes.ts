import { z } from 'zod';
import { decodeWith, type Decoded } from './envelope';

/**
 * Contracts between the ingress and the workers for shared user state: presences the server forwards
 * (XEP-0356 `presence='roster'`) and IQs a worker needs sent on its behalf (XEP-0356 roster get,
 * XEP-0115 caps resolution). JSON over NATS, like the request envelopes.
 */

export const CapsSchema = z.object({
  /** XEP-0115 `node` (the client software's URI). */
  node: z.string().min(1).max(1024),
  /** XEP-0115 `ver`: the verification string. */
  ver: z.string().min(1).max(200),
  /** Hash function name (`sha-1` in practice). */
  hash: z.string().min(1).max(50),
});
export type Caps = z.infer<typeof CapsSchema>;

/** One presence the server sent the component, on `presenceSubject(prefix, server)`. */
export const PresenceEnvelopeSchema = z.object({
  v: z.literal(1),
  /** Server domain that sent it. */
  server: z.string().min(1),
  /** Whose presence: a full JID (a bare JID when a remote entity sent one without resource). */
  from: z.string().min(1).max(3071),
  /** `true` for an available presence (no `type`), `false` for `type='unavailable'`. */
  available: z.boolean(),
  /** XEP-0115 caps of the resource, when it advertised them. */
  caps: CapsSchema.optional(),
  /** The presence carried an XEP-0203 `<delay/>`: a replay (e.g. after the component connected), not a change. */
  delayed: z.boolean(),
  /** When the ingress received it (ISO 8601). */
  receivedAt: z.string().min(1),
});
export type PresenceEnvelope = z.infer<typeof PresenceEnvelopeSchema>;

/**
 * An IQ a worker asks the ingress to send, on `iqSubject(prefix, server)`. Workers never send arbitrary
 * IQs: the ingress builds the stanza from the kind, so a worker can only ask what the kind allows.
 * - `roster-get`: XEP-0356 privileged roster get of a local user (`to` = a bare JID of the served domain;
 *   needs the `roster` get permission);
 * - `disco-info`: XEP-0030 disco#info to an entity (`to` = a full JID, `node` = `caps node#ver`), sent from
 *   the component's JID, to resolve an unknown caps hash.
 */
export const IqRequestEnvelopeSchema = z.discriminatedUnion('kind', [
  z.object({
    v: z.literal(1),
    kind: z.literal('roster-get'),
    to: z.string().min(1).max(3071),
    worker: z.string().min(1).max(200),
    timeoutMs: z.number().int().positive().max(60_000),
  }),
  z.object({
    v: z.literal(1),
    kind: z.literal('disco-info'),
    to: z.string().min(1).max(3071),
    node: z.string().min(1).max(2048).optional(),
    worker: z.string().min(1).max(200),
    timeoutMs: z.number().int().positive().max(60_000),
  }),
]);
export type IqRequestEnvelope = z.infer<typeof IqRequestEnvelopeSchema>;

/**
 * Why the ingress did not get an answer for a worker's IQ:
 * - `forbidden`: the target is not allowed for the kind (roster of another domain, a full JID, ...);
 * - `no-permission`: the server did not grant what the kind needs (roster `get`/`both`);
 * - `offline`: no component link (or no ingress answered);
 * - `timeout`: the entity did not answer within `timeoutMs`;
 * - `bad-request`: the envelope is malformed.
 */
export const IQ_REQUEST_ERRORS = ['forbidden', 'no-permission', 'offline', 'timeout', 'bad-request'] as const;
export type IqRequestError = (typeof IQ_REQUEST_ERRORS)[number];

/** The ingress's answer: the response IQ as XML text (`type='result'` or `type='error'`), or a refusal. */
export const IqResponseEnvelopeSchema = z.discriminatedUnion('ok', [
  z.object({ v: z.literal(1), ok: z.literal(true), stanza: z.string().min(1) }),
  z.object({ v: z.literal(1), ok: z.literal(false), error: z.enum(IQ_REQUEST_ERRORS), reason: z.string() }),
]);
export type IqResponseEnvelope = z.infer<typeof IqResponseEnvelopeSchema>;

const encoder = new TextEncoder();

export function encodeStateEnvelope(value: PresenceEnvelope | IqRequestEnvelope | IqResponseEnvelope): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export const decodePresence = (data: Uint8Array): Decoded<PresenceEnvelope> => decodeWith(PresenceEnvelopeSchema, data);
export const decodeIqRequest = (data: Uint8Array): Decoded<IqRequestEnvelope> => decodeWith(IqRequestEnvelopeSchema, data);
export const decodeIqResponse = (data: Uint8Array): Decoded<IqResponseEnvelope> => decodeWith(IqResponseEnvelopeSchema, data);
