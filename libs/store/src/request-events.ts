import { auditRowOf, requestRows, type RequestRows } from './projections';
import type { RawDb } from './raw';
import type { NewAuditRow } from './schema';

type RequestEvent = RequestRows['later'][number];

// The hot path of the projector: a batch of request.received / request.answered events (almost all the
// traffic) in three prepared statements on unnest()ed arrays, without the query builder. Same rows as
// `applyEvent` on each event in turn; any other event type takes the general path.
const INSERT_EVENTS = `insert into events (id, type, server, component, at, trace_id, payload)
select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[])
on conflict (id) do nothing returning id`;

const COLUMNS = ['request_id', 'server', 'component', 'requester', 'target', 'namespace', 'iq_type', 'iq_id', 'route', 'subject', 'outcome', 'condition', 'reason', 'latency_ms', 'worker', 'trace_id', 'received_at', 'answered_at'] as const;
const TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'float8', 'text', 'text', 'timestamptz', 'timestamptz'];
const RECEIVED_SET = ['server', 'component', 'requester', 'target', 'namespace', 'iq_type', 'iq_id', 'route', 'subject', 'received_at'].map((c) => `${c} = excluded.${c}`);
const ANSWERED_SET = ['outcome', 'condition', 'reason', 'latency_ms', 'worker', 'answered_at'].map((c) => `${c} = excluded.${c}`);

const upsert = (set: string[], traceId: string) =>
  `insert into audit_log (${COLUMNS.join(', ')}) select * from unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
on conflict (request_id) do update set ${[...set, `trace_id = ${traceId}`].join(', ')}`;

const UPSERT_BOTH = upsert([...RECEIVED_SET, ...ANSWERED_SET], 'coalesce(excluded.trace_id, audit_log.trace_id)');
const UPSERT_RECEIVED = upsert(RECEIVED_SET, 'coalesce(excluded.trace_id, audit_log.trace_id)');
const UPSERT_ANSWERED = upsert(ANSWERED_SET, 'coalesce(audit_log.trace_id, excluded.trace_id)');

const KEYS: Array<keyof NewAuditRow> = ['requestId', 'server', 'component', 'requester', 'target', 'namespace', 'iqType', 'iqId', 'route', 'subject', 'outcome', 'condition', 'reason', 'latencyMs', 'worker', 'traceId', 'receivedAt', 'answeredAt'];

function columnsOf(rows: NewAuditRow[]): unknown[][] {
  return KEYS.map((k) => rows.map((r) => (k === 'outcome' ? (r.outcome ?? 'pending') : (r[k] ?? null))));
}

/** Stores request events (distinct ids) and projects the new ones into audit_log, in one transaction; returns the new ids. */
export async function appendRequestEvents(raw: RawDb, unique: RequestEvent[]): Promise<Set<string>> {
  return await raw.transaction(async (tx) => {
    const inserted = await tx.query<{ id: string }>({
      name: 'dbroker_events_append',
      text: INSERT_EVENTS,
      values: [
        unique.map((e) => e.id),
        unique.map((e) => e.type),
        unique.map((e) => e.server),
        unique.map((e) => e.component),
        unique.map((e) => e.at),
        unique.map((e) => e.traceId ?? null),
        unique.map((e) => JSON.stringify(e)),
      ],
    });
    const fresh = new Set(inserted.map((r) => r.id));
    const rows = requestRows(unique.filter((e) => fresh.has(e.id)));
    const run = async (name: string, text: string, values: NewAuditRow[]) => {
      if (values.length) await tx.query({ name, text, values: columnsOf(values) });
    };
    await run('dbroker_audit_both', UPSERT_BOTH, rows.both);
    await run('dbroker_audit_received', UPSERT_RECEIVED, rows.onlyReceived);
    await run('dbroker_audit_answered', UPSERT_ANSWERED, rows.onlyAnswered);
    for (const e of rows.later) {
      if (e.type === 'request.received') await run('dbroker_audit_received', UPSERT_RECEIVED, [auditRowOf(e)]);
      else await run('dbroker_audit_answered', UPSERT_ANSWERED, [auditRowOf(e)]);
    }
    return fresh;
  });
}
