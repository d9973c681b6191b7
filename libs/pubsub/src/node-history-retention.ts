import { deleteInBatches, type BatchBounds, type BatchedDeleteResult, type RawDb, type RawQuery } from '@dbroker/store';

/**
 * Retention of the pubsub node event log (`pubsub_node_events`, the MAM archive of each node) and of
 * deleted nodes' tombstones (`pubsub_nodes` rows with `deleted_at`).
 *
 * - Age: entries older than the cutoff go.
 * - Cap: beyond the newest `maxEvents` entries of a node, the older ones go, oldest first.
 * - Tombstones: a node deleted before the cutoff loses its log, then its row. The tombstone exists for
 *   the log's foreign key and for `findRequest` (a retried request finds its recorded outcome with the
 *   node's name); once the log is gone nothing reads the row (every reader asks for a live node, and the
 *   name was free again from the delete on).
 *
 * Whatever the age or the cap, the publish entry that wrote each current item (`pubsub_items.published_seq`)
 * stays: only history goes. Every statement deletes at most one batch of rows it picked `for update skip
 * locked` (replicas never wait on each other, nor on a writer of the node) in its own short transaction.
 */

const BACKS_AN_ITEM = 'exists (select 1 from pubsub_items i where i.node_id = e.node_id and i.published_seq = e.seq)';
const deleteEvents = (victims: string) =>
  `with victims as (${victims}), d as (delete from pubsub_node_events where seq in (select seq from victims) returning 1) select count(*)::int as n from d`;

const SQL = {
  /** $1 cutoff, $2 limit. Ordered by `at` on `pubsub_node_events_at_idx`. */
  old: {
    name: 'dbroker_pubsub_retention_old_events',
    text: deleteEvents(`select e.seq from pubsub_node_events e where e.at < $1 and not ${BACKS_AN_ITEM} order by e.at limit $2 for update of e skip locked`),
  },
  /**
   * The nodes of the first $2 entries above seq $1 (the pk index), with the number of those entries and
   * whether the node has more than $3 entries (a probe of at most $3 + 1 entries of its (node_id, seq) index).
   */
  touched: {
    name: 'dbroker_pubsub_retention_touched_nodes',
    text:
      'select t.node_id, t.last_seq, t.entries, exists (select 1 from (select 1 from pubsub_node_events c where c.node_id = t.node_id ' +
      'order by c.node_id desc, c.seq desc offset $3 limit 1) beyond) as over ' +
      'from (select node_id, max(seq) as last_seq, count(*)::int as entries ' +
      'from (select node_id, seq from pubsub_node_events where seq > $1 order by seq limit $2) chunk group by node_id) t',
  },
  /** $1 node, $2 cap, $3 limit: the node's entries older than its newest $2, oldest first. */
  overCap: {
    name: 'dbroker_pubsub_retention_over_cap',
    text: deleteEvents(
      'select e.seq from pubsub_node_events e where e.node_id = $1 and e.seq <= ' +
        '(select c.seq from pubsub_node_events c where c.node_id = $1 order by c.node_id desc, c.seq desc offset $2 limit 1) ' +
        `and not ${BACKS_AN_ITEM} order by e.node_id, e.seq limit $3 for update of e skip locked`,
    ),
  },
  /** $1 cutoff, $2 limit: entries of nodes deleted before the cutoff. */
  tombstoneEvents: {
    name: 'dbroker_pubsub_retention_tombstone_events',
    text: deleteEvents(
      'select e.seq from pubsub_node_events e where e.node_id in ' +
        '(select n.id from pubsub_nodes n where n.deleted_at < $1) limit $2 for update of e skip locked',
    ),
  },
  /** $1 cutoff, $2 limit: tombstones deleted before the cutoff whose log is gone. */
  tombstones: {
    name: 'dbroker_pubsub_retention_tombstones',
    text:
      'with victims as (select n.id from pubsub_nodes n where n.deleted_at < $1 ' +
      'and not exists (select 1 from pubsub_node_events e where e.node_id = n.id) order by n.deleted_at limit $2 for update skip locked), ' +
      'd as (delete from pubsub_nodes where id in (select id from victims) returning 1) select count(*)::int as n from d',
  },
} as const satisfies Record<string, RawQuery>;

const DAY_MS = 86_400_000;

/** Deletes log entries older than `cutoff`, except the entries of current items. */
export function deleteOldNodeEvents(db: RawDb, cutoff: Date, bounds: BatchBounds): Promise<BatchedDeleteResult> {
  return deleteInBatches(db, (limit) => ({ ...SQL.old, values: [cutoff, limit] }), bounds);
}

/** Deletes the entries of `nodeId` beyond its newest `maxEvents` (oldest first), except the entries of current items. */
export function deleteNodeEventsOverCap(db: RawDb, nodeId: number, maxEvents: number, bounds: BatchBounds): Promise<BatchedDeleteResult> {
  return deleteInBatches(db, (limit) => ({ ...SQL.overCap, values: [nodeId, maxEvents, limit] }), bounds);
}

/** Deletes the log of the nodes deleted before `cutoff`, then their tombstones. */
export async function deleteOldTombstones(
  db: RawDb,
  cutoff: Date,
  bounds: BatchBounds,
): Promise<{ events: BatchedDeleteResult; nodes: BatchedDeleteResult }> {
  const events = await deleteInBatches(db, (limit) => ({ ...SQL.tombstoneEvents, values: [cutoff, limit] }), bounds);
  const nodes = await deleteInBatches(db, (limit) => ({ ...SQL.tombstones, values: [cutoff, limit] }), bounds);
  return { events, nodes };
}

export interface NodeHistoryRetentionOptions {
  /** Days a log entry is kept; 0 = forever. */
  retentionDays: number;
  /** Entries kept per node (besides its current items' entries); 0 = no cap. */
  maxEvents: number;
  /** Days a deleted node's tombstone and log are kept; 0 = forever. */
  tombstoneDays: number;
  /** Per part of the sweep (age, cap, tombstones): the cap's statements count together over all nodes. */
  bounds: BatchBounds;
  now?: (() => Date) | undefined;
}

export interface NodeHistorySweepResult {
  /** Log entries deleted, by reason. */
  aged: number;
  capped: number;
  tombstoneEvents: number;
  /** Tombstone rows deleted. */
  tombstones: number;
  /** Work was left for the next sweep. */
  more: boolean;
}

/**
 * A sweeper of the node history: `sweep()` runs one bounded pass of each part. The cap only needs to look
 * at nodes that received entries since the last look: the sweeper remembers the highest seq it looked at
 * (in memory; after a start it walks the whole log once, `bounds.batchRows * bounds.maxBatches` entries a
 * sweep), trims the nodes of a chunk that are over the cap (one probe statement for the chunk, then
 * delete statements counted against `maxBatches`) and moves past the chunk once none is left over it.
 */
export function createNodeHistorySweeper(db: RawDb, opts: NodeHistoryRetentionOptions): { sweep(): Promise<NodeHistorySweepResult> } {
  let seenSeq = 0;
  const now = opts.now ?? (() => new Date());

  async function sweepCap(): Promise<{ deleted: number; more: boolean }> {
    const scan = opts.bounds.batchRows * opts.bounds.maxBatches;
    const touched = await db.query<{ node_id: number | string; last_seq: number | string; entries: number; over: boolean }>({
      ...SQL.touched,
      values: [seenSeq, scan, opts.maxEvents],
    });
    let budget = opts.bounds.maxBatches;
    let deleted = 0;
    // a full chunk: the log goes on beyond it
    let more = touched.reduce((n, t) => n + Number(t.entries), 0) >= scan;
    let done = true;
    for (const t of touched.filter((x) => x.over)) {
      if (budget <= 0) {
        done = false;
        break;
      }
      const r = await deleteNodeEventsOverCap(db, Number(t.node_id), opts.maxEvents, { ...opts.bounds, maxBatches: budget });
      deleted += r.deleted;
      budget -= r.batches;
      if (r.more) done = false;
    }
    if (done && touched.length > 0) seenSeq = Math.max(seenSeq, ...touched.map((t) => Number(t.last_seq)));
    if (!done) more = true;
    return { deleted, more };
  }

  return {
    async sweep() {
      const t = now().getTime();
      const aged = opts.retentionDays > 0 ? await deleteOldNodeEvents(db, new Date(t - opts.retentionDays * DAY_MS), opts.bounds) : undefined;
      const cap = opts.maxEvents > 0 ? await sweepCap() : undefined;
      const tomb = opts.tombstoneDays > 0 ? await deleteOldTombstones(db, new Date(t - opts.tombstoneDays * DAY_MS), opts.bounds) : undefined;
      return {
        aged: aged?.deleted ?? 0,
        capped: cap?.deleted ?? 0,
        tombstoneEvents: tomb?.events.deleted ?? 0,
        tombstones: tomb?.nodes.deleted ?? 0,
        more: Boolean(aged?.more || cap?.more || tomb?.events.more || tomb?.nodes.more),
      };
    },
  };
}
