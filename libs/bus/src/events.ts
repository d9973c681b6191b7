import { z } from 'zod';
import { IQ_REQUEST_ERRORS } from './state-envelopes';

/**
 * Audit events: what the ingress saw and did. They are appended to a durable JetStream stream
 * (subject `<eventsPrefix>.<type>`, message id = event id so JetStream drops duplicates) and projected
 * into Postgres by the projector. The event id is the idempotency key of every projection.
 */
const base = {
  id: z.string().uuid(),
  /** ISO-8601 timestamp of the fact, set by the producer. */
  at: z.string().datetime({ offset: true }),
  /** Server domain the component is attached to (the trusted XMPP_SERVER). */
  server: z.string().min(1),
  /** Component JID (XMPP_DOMAIN). */
  component: z.string().min(1),
  traceId: z.string().regex(/^[0-9a-f]{32}$/).optional(),
  /** Paths of the fields cut to their maximum length at emit (see event-caps.ts); absent when none was. */
  truncated: z.array(z.string()).optional(),
};

export const GrantSchema = z.object({
  namespace: z.string().min(1),
  /** Filtering attributes: the server delegates only when all are present on the payload element. */
  attributes: z.array(z.string()),
});
export type Grant = z.infer<typeof GrantSchema>;

export const GrantAdvertisedEvent = z.object({
  ...base,
  type: z.literal('grant.advertised'),
  /** Delegation namespace version the server spoke. */
  version: z.enum(['urn:xmpp:delegation:1', 'urn:xmpp:delegation:2']),
  /** Grants in this advertisement. `replace` = true: this is the complete set (Prosody); false: add (ejabberd sends one per message). */
  grants: z.array(GrantSchema),
  replace: z.boolean(),
});

export const AdvertisementRejectedEvent = z.object({
  ...base,
  type: z.literal('advertisement.rejected'),
  from: z.string(),
  reason: z.string(),
});

export const RequestReceivedEvent = z.object({
  ...base,
  type: z.literal('request.received'),
  requestId: z.string().min(1),
  /** Requester (inner from), full JID. */
  from: z.string(),
  /** Target (inner to, filled with the requester's bare JID when absent). */
  to: z.string(),
  namespace: z.string(),
  iqType: z.enum(['get', 'set']),
  iqId: z.string(),
  route: z.string(),
  subject: z.string(),
});

export const RequestAnsweredEvent = z.object({
  ...base,
  type: z.literal('request.answered'),
  requestId: z.string().min(1),
  outcome: z.enum(['result', 'error']),
  /** Stanza error condition when outcome = error. */
  condition: z.string().optional(),
  /** Why the broker produced the error itself (no-responders, timeout, invalid-reply, nats-down, ...). Absent when the worker answered. */
  reason: z.string().optional(),
  latencyMs: z.number().nonnegative(),
  worker: z.string().optional(),
});

export const RequestRejectedEvent = z.object({
  ...base,
  type: z.literal('request.rejected'),
  /** Present when the stanza was parsed far enough to have one. */
  requestId: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  namespace: z.string().optional(),
  iqType: z.string().optional(),
  reason: z.string(),
  condition: z.string(),
});

/** XEP-0356 permissions as advertised (absent = `none`); the same shape as @dbroker/protocol's PrivilegePermissions. */
export const PrivilegePermissionsSchema = z.object({
  roster: z.enum(['none', 'get', 'set', 'both']),
  message: z.enum(['none', 'outgoing']),
  presence: z.enum(['none', 'managed_entity', 'roster']),
  /** `urn:xmpp:privilege:2` only: privileged IQs per namespace. */
  iq: z.array(z.object({ namespace: z.string().min(1), type: z.enum(['none', 'get', 'set', 'both']) })),
});
export type PrivilegePermissions = z.infer<typeof PrivilegePermissionsSchema>;

export const PrivilegeAdvertisedEvent = z.object({
  ...base,
  type: z.literal('privilege.advertised'),
  /** Privilege namespace version the server spoke: privileged messages are wrapped in it. */
  version: z.enum(['urn:xmpp:privilege:1', 'urn:xmpp:privilege:2']),
  /** The complete set for this stream (both servers advertise everything at once). */
  perms: PrivilegePermissionsSchema,
});

export const PrivilegeRefusedEvent = z.object({
  ...base,
  type: z.literal('privilege.refused'),
  /** Why, in words (for people). */
  reason: z.string(),
  /** The outbound ack error code (`forbidden`, `not-allowed`, `no-permission`, `offline`, `bad-request`); absent when the server refused it after we sent it. */
  error: z.enum(['forbidden', 'not-allowed', 'no-permission', 'offline', 'bad-request']).optional(),
  /** Inner message `from`/`to`, as the worker sent them, when it could be read that far. */
  from: z.string().optional(),
  to: z.string().optional(),
  /** The worker that asked (from the outbound envelope). */
  worker: z.string().optional(),
  requestId: z.string().optional(),
});

/**
 * The protocol versions the server spoke on one component stream (one connection): the delegation
 * namespace of its grant advertisements and the privilege namespace of its privilege advertisement,
 * null for what it did not advertise. Emitted once per stream, about a second after the first
 * advertisement (ejabberd sends one grant message per namespace), and again if a version changes.
 */
export const StreamProtocolsEvent = z.object({
  ...base,
  type: z.literal('stream.protocols'),
  delegation: z.enum(['urn:xmpp:delegation:1', 'urn:xmpp:delegation:2']).nullable(),
  privilege: z.enum(['urn:xmpp:privilege:1', 'urn:xmpp:privilege:2']).nullable(),
});

/** A worker's IQ request (roster get, caps disco#info) the ingress refused before sending anything. */
export const IqRefusedEvent = z.object({
  ...base,
  type: z.literal('iq.refused'),
  reason: z.string(),
  /** The IqResponseEnvelope error code: `forbidden`, `no-permission`, `bad-request`. */
  error: z.enum(IQ_REQUEST_ERRORS),
  kind: z.enum(['roster-get', 'disco-info']).optional(),
  to: z.string().optional(),
  worker: z.string().optional(),
});

export const AuditEventSchema = z.discriminatedUnion('type', [
  GrantAdvertisedEvent,
  AdvertisementRejectedEvent,
  RequestReceivedEvent,
  RequestAnsweredEvent,
  RequestRejectedEvent,
  PrivilegeAdvertisedEvent,
  PrivilegeRefusedEvent,
  StreamProtocolsEvent,
  IqRefusedEvent,
]);
export type AuditEvent = z.infer<typeof AuditEventSchema>;
export type AuditEventType = AuditEvent['type'];
/** An event before the envelope fields every event shares are filled in. */
export type AuditEventInput = AuditEvent extends infer E ? (E extends AuditEvent ? Omit<E, 'id' | 'at' | 'server' | 'component' | 'truncated'> : never) : never;

export const DEFAULT_EVENTS_STREAM = 'DBROKER_EVENTS';
export const DEFAULT_EVENTS_PREFIX = 'dbroker.events';

export function eventSubject(prefix: string, type: AuditEventType): string {
  return `${prefix}.${type.replace('.', '_')}`;
}
