import { z } from 'zod';

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

export const AuditEventSchema = z.discriminatedUnion('type', [
  GrantAdvertisedEvent,
  AdvertisementRejectedEvent,
  RequestReceivedEvent,
  RequestAnsweredEvent,
  RequestRejectedEvent,
]);
export type AuditEvent = z.infer<typeof AuditEventSchema>;
export type AuditEventType = AuditEvent['type'];
/** An event before the envelope fields every event shares are filled in. */
export type AuditEventInput = AuditEvent extends infer E ? (E extends AuditEvent ? Omit<E, 'id' | 'at' | 'server' | 'component'> : never) : never;

export const DEFAULT_EVENTS_STREAM = 'DBROKER_EVENTS';
export const DEFAULT_EVENTS_PREFIX = 'dbroker.events';

export function eventSubject(prefix: string, type: AuditEventType): string {
  return `${prefix}.${type.replace('.', '_')}`;
}
