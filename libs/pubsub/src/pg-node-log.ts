import { and, asc, desc, eq, gt, gte, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import { pubsubNodeEvents as events, type Database } from '@dbroker/store';
import { checkPageLimit, type NodeLogEntry, type NodeLogFilter, type NodeLogReader } from './node-log';

/**
 * `NodeLogReader` on Postgres / PGlite. Keyset pagination: every page is one range scan of the
 * `(node_id, seq)` index from the cursor (`seq > after` forwards, `seq < before` backwards), `LIMIT n + 1`
 * to learn whether more follow; no OFFSET anywhere, so a page costs the same at any depth. Ordering by
 * `node_id, seq` (node_id fixed by the WHERE) lets the planner take that index for sparse nodes too,
 * instead of walking the global `seq` primary key and filtering.
 *
 * `count` is one index-only pass over the filtered range (`(node_id, seq)`, or `(node_id, at, seq)` with
 * time bounds), returning the total and the entries before a given seq together.
 */

type Executor = Pick<Database, 'select'>;

const entryColumns = {
  seq: events.seq,
  kind: events.kind,
  itemId: events.itemId,
  payload: events.payload,
  publisher: events.publisher,
  at: events.at,
};

function conditions(nodeId: number, f: NodeLogFilter): SQL {
  const c: SQL[] = [eq(events.nodeId, nodeId)];
  if (f.afterSeq !== undefined) c.push(gt(events.seq, f.afterSeq));
  if (f.beforeSeq !== undefined) c.push(lt(events.seq, f.beforeSeq));
  if (f.start !== undefined) c.push(gte(events.at, f.start));
  if (f.end !== undefined) c.push(lte(events.at, f.end));
  if (f.publisher !== undefined) {
    const p = f.publisher;
    // bare: the JID itself or any of its resources (starts_with: no LIKE escaping of the JID needed)
    c.push(p.includes('/') ? eq(events.publisher, p) : or(eq(events.publisher, p), sql`starts_with(${events.publisher}, ${`${p}/`})`)!);
  }
  if (f.seqs !== undefined) c.push(f.seqs.length === 0 ? sql`false` : inArray(events.seq, [...f.seqs]));
  return and(...c)!;
}

export function createPgNodeLog(db: Executor): NodeLogReader {
  return {
    async page(nodeId, q) {
      checkPageLimit(q.limit);
      const forward = q.direction === 'forward';
      const rows: NodeLogEntry[] = await db
        .select(entryColumns)
        .from(events)
        .where(conditions(nodeId, q))
        .orderBy(...(forward ? [asc(events.nodeId), asc(events.seq)] : [desc(events.nodeId), desc(events.seq)]))
        .limit(q.limit + 1);
      const more = rows.length > q.limit;
      const entries = more ? rows.slice(0, q.limit) : rows;
      if (!forward) entries.reverse();
      return { entries, more };
    },

    async count(nodeId, filter, precedingSeq) {
      const preceding = precedingSeq === undefined ? sql<number>`0` : sql<number>`(count(*) filter (where ${events.seq} < ${precedingSeq}))::int`;
      const rows = await db
        .select({ total: sql<number>`count(*)::int`, preceding })
        .from(events)
        .where(conditions(nodeId, filter));
      const r = rows[0];
      return { total: Number(r?.total ?? 0), preceding: Number(r?.preceding ?? 0) };
    },

    async existing(nodeId, seqs) {
      if (seqs.length === 0) return new Set();
      const rows = await db
        .select({ seq: events.seq })
        .from(events)
        .where(and(eq(events.nodeId, nodeId), inArray(events.seq, [...new Set(seqs)])));
      return new Set(rows.map((r) => Number(r.seq)));
    },

    async bounds(nodeId) {
      const end = (direction: 'first' | 'last') =>
        db
          .select(entryColumns)
          .from(events)
          .where(eq(events.nodeId, nodeId))
          .orderBy(...(direction === 'first' ? [asc(events.nodeId), asc(events.seq)] : [desc(events.nodeId), desc(events.seq)]))
          .limit(1);
      const [first, last] = await Promise.all([end('first'), end('last')]);
      return first[0] && last[0] ? { first: first[0], last: last[0] } : undefined;
    },
  };
}
