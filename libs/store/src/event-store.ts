import { AuditEventSchema, type AuditEvent } from '@dbroker/bus';
import { asc, count, gt, sql } from 'drizzle-orm';
import { rawDbOf, type Database } from './db';
import { appendRequestEvents } from './request-events';
import { applyEvent, isRequestEvent, PROJECTIONS, type ProjectionName } from './projections';
import { auditLog, events, grants, privileges } from './schema';

/** The `events` row of an event. Pure. */
export function eventRow(event: AuditEvent): typeof events.$inferInsert {
  return {
    id: event.id,
    type: event.type,
    server: event.server,
    component: event.component,
    at: new Date(event.at),
    traceId: event.traceId ?? null,
    payload: event,
  };
}

/**
 * Records an event and, only when it is new, applies it to the projections in the same transaction.
 * Returns false for an event already stored (a redelivery): nothing changes then.
 */
export async function appendEvent(db: Database, event: AuditEvent): Promise<boolean> {
  return (await appendEvents(db, [event]))[0]!;
}

/**
 * Records a batch of events in ONE transaction and applies the new ones to the projections in stream
 * order. Returns, per event, whether it was new (a repeated id counts once). All or nothing: a failure
 * leaves no trace of the batch. Request events (nearly all the traffic) take a prepared-statement path.
 */
export async function appendEvents(db: Database, batch: AuditEvent[]): Promise<boolean[]> {
  if (batch.length === 0) return [];
  const unique = [...new Map(batch.map((e) => [e.id, e])).values()];
  const fresh = unique.every(isRequestEvent)
    ? await appendRequestEvents(rawDbOf(db), unique)
    : await db.transaction(async (tx) => {
        const inserted = await tx.insert(events).values(unique.map(eventRow)).onConflictDoNothing({ target: events.id }).returning({ id: events.id });
        const ids = new Set(inserted.map((r) => r.id));
        for (const e of unique) if (ids.has(e.id)) await applyEvent(tx, e);
        return ids;
      });
  const counted = new Set<string>();
  return batch.map((e) => {
    if (!fresh.has(e.id) || counted.has(e.id)) return false;
    counted.add(e.id);
    return true;
  });
}

export interface RebuildOptions {
  only?: ProjectionName[];
  /** Events read per query while replaying. */
  pageSize?: number;
}

export interface RebuildResult {
  projections: ProjectionName[];
  /** Events replayed. */
  events: number;
  /** Stored events whose payload no longer parses (skipped). */
  skipped: number;
  grants: number;
  auditLog: number;
  privileges: number;
}

const tableOf = { grants, audit_log: auditLog, privileges } as const;

/**
 * Empties the projection tables and replays `events` in `seq` order, all in one transaction: readers see
 * the old projections until it commits, and live appends touching those tables wait for it.
 */
export async function rebuildProjections(db: Database, opts: RebuildOptions = {}): Promise<RebuildResult> {
  const only = new Set<ProjectionName>(opts.only?.length ? opts.only : PROJECTIONS);
  const pageSize = opts.pageSize ?? 1000;
  return await db.transaction(async (tx) => {
    const tables = [...only].map((p) => tableOf[p]);
    await tx.execute(sql`truncate table ${sql.join(tables, sql`, `)}`);
    let last = 0;
    let replayed = 0;
    let skipped = 0;
    for (;;) {
      const page = await tx.select({ seq: events.seq, payload: events.payload }).from(events).where(gt(events.seq, last)).orderBy(asc(events.seq)).limit(pageSize);
      for (const row of page) {
        const parsed = AuditEventSchema.safeParse(row.payload);
        if (!parsed.success) {
          skipped++;
          continue;
        }
        await applyEvent(tx, parsed.data, only);
        replayed++;
      }
      const tail = page.at(-1);
      if (!tail || page.length < pageSize) break;
      last = tail.seq;
    }
    const countOf = async (p: ProjectionName) => (only.has(p) ? ((await tx.select({ n: count() }).from(tableOf[p]))[0]?.n ?? 0) : 0);
    return {
      projections: [...only],
      events: replayed,
      skipped,
      grants: await countOf('grants'),
      auditLog: await countOf('audit_log'),
      privileges: await countOf('privileges'),
    };
  });
}
