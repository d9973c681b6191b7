import { and, asc, desc, eq, gt, gte, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import { pubsubNodeEvents as events, type Database } from '@dbroker/store';
import { checkPageLimit, type NodeLogEntry, type NodeLogFilter, type NodeLogPageQuery, type NodeLogReader } from './node-log';

/**
 * `NodeLogReader` on Postgres / PGlite. No OFFSET anywhere: a page costs the same at any depth.
 *
 * - A page is one keyset range scan of the `(node_id, seq)` index from its cursor (`seq > after`
 *   forwards, `seq < before` backwards), `LIMIT n + 1` to learn whether more follow. Ordering by
 *   `node_id, seq` (node_id fixed by the WHERE) lets the planner take that index for sparse nodes too.
 * - With time bounds the planner would walk that index and filter `at`, not knowing `at` follows `seq`:
 *   a window deep in a large archive then costs a walk from the archive's start. So a small window (at
 *   most `WINDOW_PATH_MAX` entries, probed on the `(node_id, at, seq)` index) is read from that index
 *   instead: its seqs index-only, the top n by seq, then those n rows. The filters stay exact predicates
 *   either way (`at` is the writer's clock and need not be monotonic in `seq`).
 * - A count is an index-only range scan, optionally stopped after `max` entries.
 */

type Executor = Pick<Database, 'select'>;

/** Largest time window read through the `(node_id, at, seq)` index (its seqs are sorted in memory). */
export const WINDOW_PATH_MAX = 5_000;

const entryColumns = {
  seq: events.seq,
  kind: events.kind,
  itemId: events.itemId,
  payload: events.payload,
  publisher: events.publisher,
  at: events.at,
};

function timeConditions(nodeId: number, f: NodeLogFilter): SQL[] {
  const c: SQL[] = [eq(events.nodeId, nodeId)];
  if (f.start !== undefined) c.push(gte(events.at, f.start));
  if (f.end !== undefined) c.push(lte(events.at, f.end));
  return c;
}

function conditions(nodeId: number, f: NodeLogFilter): SQL {
  const c = timeConditions(nodeId, f);
  if (f.afterSeq !== undefined) c.push(gt(events.seq, f.afterSeq));
  if (f.beforeSeq !== undefined) c.push(lt(events.seq, f.beforeSeq));
  if (f.publisher !== undefined) {
    const p = f.publisher;
    // bare: the JID itself or any of its resources (starts_with: no LIKE escaping of the JID needed)
    c.push(p.includes('/') ? eq(events.publisher, p) : or(eq(events.publisher, p), sql`starts_with(${events.publisher}, ${`${p}/`})`)!);
  }
  if (f.seqs !== undefined) c.push(f.seqs.length === 0 ? sql`false` : inArray(events.seq, [...f.seqs]));
  return and(...c)!;
}

/** `(select count(*) from (select 1 from events where <where> limit max+1))`: at most max+1 index entries. */
function cappedCount(where: SQL, max: number | undefined): SQL<number> {
  return max === undefined
    ? sql<number>`(select count(*) from ${events} where ${where})::int`
    : sql<number>`(select count(*) from (select 1 from ${events} where ${where} limit ${max + 1}) as capped)::int`;
}

export interface PgNodeLogOptions {
  /** Largest time window read through the `(node_id, at, seq)` index. Default `WINDOW_PATH_MAX`. */
  windowPathMax?: number | undefined;
}

export function createPgNodeLog(db: Executor, opts: PgNodeLogOptions = {}): NodeLogReader {
  const windowPathMax = opts.windowPathMax ?? WINDOW_PATH_MAX;

  async function windowSize(nodeId: number, q: NodeLogFilter): Promise<number> {
    const rows = await db.select({ n: cappedCount(and(...timeConditions(nodeId, q))!, windowPathMax) }).from(sql`(select 1) as one`);
    return Number(rows[0]?.n ?? 0);
  }

  async function plainPage(nodeId: number, q: NodeLogPageQuery): Promise<NodeLogEntry[]> {
    const forward = q.direction === 'forward';
    return await db
      .select(entryColumns)
      .from(events)
      .where(conditions(nodeId, q))
      .orderBy(...(forward ? [asc(events.nodeId), asc(events.seq)] : [desc(events.nodeId), desc(events.seq)]))
      .limit(q.limit + 1);
  }

  async function windowPage(nodeId: number, q: NodeLogPageQuery): Promise<NodeLogEntry[]> {
    const order = q.direction === 'forward' ? sql`asc` : sql`desc`;
    // materialized: the window's seqs come from the (node_id, at, seq) index whatever the planner
    // would estimate for an ordered scan
    const window = sql`with w as materialized (select ${events.seq} as seq from ${events} where ${conditions(nodeId, q)})`;
    const picked = sql`select seq from w order by seq ${order} limit ${q.limit + 1}`;
    return await db
      .select(entryColumns)
      .from(events)
      .where(sql`${events.seq} in (${window} ${picked})`)
      .orderBy(q.direction === 'forward' ? asc(events.seq) : desc(events.seq));
  }

  return {
    async page(nodeId, q) {
      checkPageLimit(q.limit);
      const timeBound = q.start !== undefined || q.end !== undefined;
      const rows = timeBound && windowPathMax > 0 && (await windowSize(nodeId, q)) <= windowPathMax ? await windowPage(nodeId, q) : await plainPage(nodeId, q);
      const more = rows.length > q.limit;
      const entries = more ? rows.slice(0, q.limit) : rows;
      if (q.direction === 'backward') entries.reverse();
      return { entries, more };
    },

    async count(nodeId, filter, opts = {}) {
      const { precedingSeq, max } = opts;
      const where = conditions(nodeId, filter);
      const preceding = precedingSeq === undefined ? sql<number>`0` : cappedCount(and(where, lt(events.seq, precedingSeq))!, max);
      const rows = await db.select({ total: cappedCount(where, max), preceding }).from(sql`(select 1) as one`);
      const r = rows[0];
      const capped = (n: unknown) => (max !== undefined && Number(n) > max ? undefined : Number(n ?? 0));
      return { total: capped(r?.total), preceding: capped(r?.preceding) };
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
