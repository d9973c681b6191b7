import type { AuditEvent } from '@dbroker/bus';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Executor } from './db';
import { auditLog, grants, privileges, type NewAuditRow, type NewPrivilegeRow } from './schema';

export type ProjectionName = 'grants' | 'audit_log' | 'privileges';
export const PROJECTIONS: readonly ProjectionName[] = ['grants', 'audit_log', 'privileges'];
const ALL: ReadonlySet<ProjectionName> = new Set(PROJECTIONS);

type EventOf<T extends AuditEvent['type']> = Extract<AuditEvent, { type: T }>;
type GrantInsert = typeof grants.$inferInsert;

/** Which projection an event type feeds (`advertisement.rejected`, `privilege.refused`, `stream.protocols`, `iq.refused` only live in `events`). Pure. */
export function projectionOf(type: AuditEvent['type']): ProjectionName | null {
  switch (type) {
    case 'grant.advertised':
      return 'grants';
    case 'request.received':
    case 'request.answered':
    case 'request.rejected':
      return 'audit_log';
    case 'privilege.advertised':
      return 'privileges';
    case 'advertisement.rejected':
    case 'privilege.refused':
    case 'stream.protocols':
    case 'iq.refused':
      return null;
  }
}

/** The `privileges` row of an advertisement. Pure. */
export function privilegeRow(e: EventOf<'privilege.advertised'>): NewPrivilegeRow {
  return {
    server: e.server,
    component: e.component,
    version: e.version,
    perms: { roster: e.perms.roster, message: e.perms.message, presence: e.perms.presence, iq: e.perms.iq.map((p) => ({ namespace: p.namespace, type: p.type })) },
    advertisedAt: new Date(e.at),
    eventId: e.id,
  };
}

/** Grant rows of one advertisement; a namespace listed twice keeps its last entry. Pure. */
export function grantRows(e: EventOf<'grant.advertised'>): GrantInsert[] {
  const byNamespace = new Map<string, GrantInsert>();
  for (const g of e.grants) {
    byNamespace.set(g.namespace, {
      server: e.server,
      component: e.component,
      namespace: g.namespace,
      attributes: [...new Set(g.attributes)],
      version: e.version,
      advertisedAt: new Date(e.at),
      eventId: e.id,
    });
  }
  return [...byNamespace.values()];
}

/** Request id of a rejected request: its own when parsed far enough, else derived from the event id. Pure. */
export function rejectedRequestId(e: EventOf<'request.rejected'>): string {
  return e.requestId ?? `rejected:${e.id}`;
}

/** The audit row facts each request event carries. Pure. */
export function auditRowOf(e: EventOf<'request.received' | 'request.answered' | 'request.rejected'>): NewAuditRow {
  const common = { server: e.server, component: e.component, traceId: e.traceId ?? null };
  switch (e.type) {
    case 'request.received':
      return {
        ...common,
        requestId: e.requestId,
        requester: e.from,
        target: e.to,
        namespace: e.namespace,
        iqType: e.iqType,
        iqId: e.iqId,
        route: e.route,
        subject: e.subject,
        outcome: 'pending',
        receivedAt: new Date(e.at),
      };
    case 'request.answered':
      return {
        ...common,
        requestId: e.requestId,
        outcome: e.outcome,
        condition: e.condition ?? null,
        reason: e.reason ?? null,
        latencyMs: e.latencyMs,
        worker: e.worker ?? null,
        answeredAt: new Date(e.at),
      };
    case 'request.rejected':
      return {
        ...common,
        requestId: rejectedRequestId(e),
        requester: e.from ?? null,
        target: e.to ?? null,
        namespace: e.namespace ?? null,
        iqType: e.iqType ?? null,
        outcome: 'rejected',
        condition: e.condition,
        reason: e.reason,
        receivedAt: new Date(e.at),
        answeredAt: new Date(e.at),
      };
  }
}

const excluded = (col: PgColumn): SQL => sql.raw(`excluded."${col.name}"`);
/** Keeps the stored value, fills it from the incoming row when it is null. */
const keep = (col: PgColumn): SQL => sql`coalesce(${col}, ${excluded(col)})`;
/** Takes the incoming value unless it is null. */
const take = (col: PgColumn): SQL => sql`coalesce(${excluded(col)}, ${col})`;

/**
 * ON CONFLICT updates per event type. `request.received` owns the request facts, `request.answered` the
 * outcome; neither touches the other's columns, so the row is the same whichever arrives first.
 * `request.rejected` marks the outcome and only fills facts nobody else supplied.
 */
const auditUpdates = {
  'request.received': {
    server: excluded(auditLog.server),
    component: excluded(auditLog.component),
    requester: excluded(auditLog.requester),
    target: excluded(auditLog.target),
    namespace: excluded(auditLog.namespace),
    iqType: excluded(auditLog.iqType),
    iqId: excluded(auditLog.iqId),
    route: excluded(auditLog.route),
    subject: excluded(auditLog.subject),
    receivedAt: excluded(auditLog.receivedAt),
    traceId: take(auditLog.traceId),
  },
  'request.answered': {
    outcome: excluded(auditLog.outcome),
    condition: excluded(auditLog.condition),
    reason: excluded(auditLog.reason),
    latencyMs: excluded(auditLog.latencyMs),
    worker: excluded(auditLog.worker),
    answeredAt: excluded(auditLog.answeredAt),
    traceId: keep(auditLog.traceId),
  },
  'request.rejected': {
    outcome: excluded(auditLog.outcome),
    condition: excluded(auditLog.condition),
    reason: excluded(auditLog.reason),
    answeredAt: excluded(auditLog.answeredAt),
    requester: keep(auditLog.requester),
    target: keep(auditLog.target),
    namespace: keep(auditLog.namespace),
    iqType: keep(auditLog.iqType),
    receivedAt: keep(auditLog.receivedAt),
    traceId: keep(auditLog.traceId),
  },
} as const;

const grantUpdate = {
  attributes: excluded(grants.attributes),
  version: excluded(grants.version),
  advertisedAt: excluded(grants.advertisedAt),
  eventId: excluded(grants.eventId),
};

const privilegeUpdate = {
  version: excluded(privileges.version),
  perms: excluded(privileges.perms),
  advertisedAt: excluded(privileges.advertisedAt),
  eventId: excluded(privileges.eventId),
};

/** Upsert keyed by (server, component); an advertisement older than the stored one (a late redelivery) changes nothing. */
async function projectPrivileges(tx: Executor, e: EventOf<'privilege.advertised'>): Promise<void> {
  await tx
    .insert(privileges)
    .values(privilegeRow(e))
    .onConflictDoUpdate({
      target: [privileges.server, privileges.component],
      set: privilegeUpdate,
      setWhere: sql`${excluded(privileges.advertisedAt)} >= ${privileges.advertisedAt}`,
    });
}

async function projectGrants(tx: Executor, e: EventOf<'grant.advertised'>): Promise<void> {
  if (e.replace) await tx.delete(grants).where(and(eq(grants.server, e.server), eq(grants.component, e.component)));
  const rows = grantRows(e);
  if (rows.length === 0) return;
  await tx
    .insert(grants)
    .values(rows)
    .onConflictDoUpdate({ target: [grants.server, grants.component, grants.namespace], set: grantUpdate });
}

/**
 * Applies one event to the projections (those in `only`, default all). Call it in the transaction that
 * stored the event, so that an event is projected exactly when it is recorded.
 */
export async function applyEvent(tx: Executor, event: AuditEvent, only: ReadonlySet<ProjectionName> = ALL): Promise<void> {
  const projection = projectionOf(event.type);
  if (projection === null || !only.has(projection)) return;
  switch (event.type) {
    case 'grant.advertised':
      return await projectGrants(tx, event);
    case 'request.received':
    case 'request.answered':
    case 'request.rejected':
      await tx
        .insert(auditLog)
        .values(auditRowOf(event))
        .onConflictDoUpdate({ target: auditLog.requestId, set: auditUpdates[event.type] });
      return;
    case 'privilege.advertised':
      return await projectPrivileges(tx, event);
    case 'advertisement.rejected':
    case 'privilege.refused':
    case 'stream.protocols':
    case 'iq.refused':
      return;
  }
}

type RequestEvent = EventOf<'request.received' | 'request.answered'>;

export const isRequestEvent = (e: AuditEvent): e is RequestEvent => e.type === 'request.received' || e.type === 'request.answered';

export interface RequestRows {
  /** Requests whose received and answered events are both in the batch: one complete row each. */
  both: NewAuditRow[];
  onlyReceived: NewAuditRow[];
  onlyAnswered: NewAuditRow[];
  /** A second event of the same kind for one request (never produced by the ingress): apply one by one. */
  later: RequestEvent[];
}

/** Groups request events into audit rows so that each request is written once per batch. Pure. */
export function requestRows(batch: readonly RequestEvent[]): RequestRows {
  const received = new Map<string, EventOf<'request.received'>>();
  const answered = new Map<string, EventOf<'request.answered'>>();
  const later: RequestEvent[] = [];
  for (const e of batch) {
    if (e.type === 'request.received') {
      if (received.has(e.requestId)) later.push(e);
      else received.set(e.requestId, e);
    } else if (answered.has(e.requestId)) later.push(e);
    else answered.set(e.requestId, e);
  }
  const both: NewAuditRow[] = [];
  const onlyReceived: NewAuditRow[] = [];
  for (const [id, r] of received) {
    const a = answered.get(id);
    if (!a) {
      onlyReceived.push(auditRowOf(r));
      continue;
    }
    answered.delete(id);
    both.push({ ...auditRowOf(r), ...auditRowOf(a), traceId: r.traceId ?? a.traceId ?? null });
  }
  return { both, onlyReceived, onlyAnswered: [...answered.values()].map(auditRowOf), later };
}
