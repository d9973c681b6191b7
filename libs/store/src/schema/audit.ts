import { sql } from 'drizzle-orm';
import { bigserial, doublePrecision, index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Append-only log of every audit event the projector accepted. `id` is the event id (the idempotency key:
 * a redelivered event is not stored or projected twice); `seq` is the projection order used by rebuilds.
 * `payload` is the whole validated event as published.
 */
export const events = pgTable(
  'events',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull().unique(),
    type: text('type').notNull(),
    server: text('server').notNull(),
    component: text('component').notNull(),
    at: tstz('at').notNull(),
    traceId: text('trace_id'),
    payload: jsonb('payload').notNull(),
    recordedAt: tstz('recorded_at').notNull().defaultNow(),
  },
  (t) => [
    index('events_type_at_idx').on(t.type, t.at),
    // retention deletes by age
    index('events_at_idx').on(t.at),
  ],
);

/** Projection: the namespaces currently delegated to each component, as last advertised by its server. */
export const grants = pgTable(
  'grants',
  {
    server: text('server').notNull(),
    component: text('component').notNull(),
    namespace: text('namespace').notNull(),
    /** Filtering attributes (XEP-0355 §4.2): the server delegates only when all are present. */
    attributes: text('attributes').array().notNull().default(sql`'{}'::text[]`),
    /** Delegation namespace version of the advertisement (`urn:xmpp:delegation:1` or `:2`). */
    version: text('version').notNull(),
    advertisedAt: tstz('advertised_at').notNull(),
    eventId: uuid('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.server, t.component, t.namespace] })],
);

/** Outcome of a delegated request: `pending` until answered. */
export const AUDIT_OUTCOMES = ['pending', 'result', 'error', 'rejected'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Projection: one row per delegated request. Filled by `request.received` (the facts) and
 * `request.answered` (the outcome) in either order, or by `request.rejected`.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    requestId: text('request_id').primaryKey(),
    server: text('server').notNull(),
    component: text('component').notNull(),
    /** Requester (inner `from`), full JID. */
    requester: text('requester'),
    /** Target (inner `to`). */
    target: text('target'),
    namespace: text('namespace'),
    iqType: text('iq_type'),
    iqId: text('iq_id'),
    route: text('route'),
    subject: text('subject'),
    outcome: text('outcome').$type<AuditOutcome>().notNull().default('pending'),
    condition: text('condition'),
    reason: text('reason'),
    latencyMs: doublePrecision('latency_ms'),
    worker: text('worker'),
    traceId: text('trace_id'),
    receivedAt: tstz('received_at'),
    answeredAt: tstz('answered_at'),
  },
  (t) => [
    // equality and bare-JID prefix (`alice@example.org/%`) look-ups
    index('audit_log_requester_idx').on(t.requester.op('text_pattern_ops'), t.receivedAt.desc()),
    index('audit_log_received_at_idx').on(t.receivedAt.desc()),
    index('audit_log_namespace_idx').on(t.namespace, t.receivedAt.desc()),
    index('audit_log_outcome_idx').on(t.outcome, t.receivedAt.desc()),
    // retention deletes by age (a row has either time, or both)
    index('audit_log_retention_idx').on(sql`coalesce(${t.receivedAt}, ${t.answeredAt})`),
  ],
);

export type EventRow = typeof events.$inferSelect;
export type GrantRow = typeof grants.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
