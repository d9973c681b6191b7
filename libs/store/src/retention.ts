import { deleteInBatches, type BatchBounds, type BatchedDeleteResult } from './batched-delete';
import type { RawDb } from './raw';

/**
 * Retention of the audit tables: `events` rows and `audit_log` rows older than a cutoff are deleted in
 * small batches (see deleteInBatches).
 *
 * `events` keeps, whatever their age, the events the current `grants` and `privileges` rows were built
 * from: `npm run db:rebuild` replays what is retained, and those two projections must come out as they are.
 * `audit_log` rows are aged by `received_at` (or `answered_at` when the answer was projected alone).
 */

const SQL = {
  events: {
    name: 'dbroker_store_retention_events',
    text:
      'with victims as (select e.id from events e where e.at < $1 ' +
      'and not exists (select 1 from grants g where g.event_id = e.id) ' +
      'and not exists (select 1 from privileges p where p.event_id = e.id) ' +
      'order by e.at limit $2 for update of e skip locked), ' +
      'd as (delete from events where id in (select id from victims) returning 1) select count(*)::int as n from d',
  },
  auditLog: {
    name: 'dbroker_store_retention_audit_log',
    text:
      'with victims as (select request_id from audit_log where coalesce(received_at, answered_at) < $1 ' +
      'order by coalesce(received_at, answered_at) limit $2 for update skip locked), ' +
      'd as (delete from audit_log where request_id in (select request_id from victims) returning 1) select count(*)::int as n from d',
  },
} as const;

/** Deletes `events` rows older than `cutoff` (except the sources of the current grants and privileges). */
export function deleteOldEvents(db: RawDb, cutoff: Date, bounds: BatchBounds): Promise<BatchedDeleteResult> {
  return deleteInBatches(db, (limit) => ({ ...SQL.events, values: [cutoff, limit] }), bounds);
}

/** Deletes `audit_log` rows older than `cutoff`. */
export function deleteOldAuditRows(db: RawDb, cutoff: Date, bounds: BatchBounds): Promise<BatchedDeleteResult> {
  return deleteInBatches(db, (limit) => ({ ...SQL.auditLog, values: [cutoff, limit] }), bounds);
}

export interface AuditRetentionOptions {
  /** Days `events` rows are kept; 0 = forever. */
  eventsDays: number;
  /** Days `audit_log` rows are kept; 0 = forever. */
  auditDays: number;
  bounds: BatchBounds;
  now?: (() => Date) | undefined;
}

const DAY_MS = 86_400_000;

/** One retention sweep of both tables; the deleted counts by table. */
export async function sweepAuditRetention(db: RawDb, opts: AuditRetentionOptions): Promise<Record<'events' | 'audit_log', BatchedDeleteResult | null>> {
  const t = (opts.now ?? (() => new Date()))().getTime();
  const events = opts.eventsDays > 0 ? await deleteOldEvents(db, new Date(t - opts.eventsDays * DAY_MS), opts.bounds) : null;
  const auditLog = opts.auditDays > 0 ? await deleteOldAuditRows(db, new Date(t - opts.auditDays * DAY_MS), opts.bounds) : null;
  return { events, audit_log: auditLog };
}
