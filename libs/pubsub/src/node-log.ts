import type { NodeEventKind, StoredNodeEvent } from './storage';

/**
 * Reading one node's append-only event log (`pubsub_node_events`) page by page: what MAM on a node
 * (XEP-0313 / XEP-0442) serves, and what any other history reader can reuse. Log order is `seq` order:
 * writers of one node are serialised on the node row, so within a node `seq` order is commit order, and a
 * reader that has seen an entry has seen every earlier one (an `after` cursor never skips a late commit).
 *
 * Implementations: `createPgNodeLog(db)` (keyset pagination on `(node_id, seq)`, no OFFSET) and
 * `createMemoryNodeLog(events)` (the reference the Postgres one is tested against).
 */

/** Which entries of one node's log. Every bound is optional; all given ones apply (AND). */
export interface NodeLogFilter {
  /** Only entries with `seq` greater than this (exclusive). */
  afterSeq?: number | undefined;
  /** Only entries with `seq` less than this (exclusive). */
  beforeSeq?: number | undefined;
  /** Only entries at or after this instant (inclusive). */
  start?: Date | undefined;
  /** Only entries at or before this instant (inclusive). */
  end?: Date | undefined;
  /** Only entries caused by this entity: a bare JID matches it and any of its resources, a full JID only itself. */
  publisher?: string | undefined;
  /** Only these entries. */
  seqs?: readonly number[] | undefined;
}

export interface NodeLogPageQuery extends NodeLogFilter {
  /** `forward`: the oldest matching entries; `backward`: the newest. Either way returned oldest first. */
  direction: 'forward' | 'backward';
  /** Page size; 0 asks only whether anything matches (`more`). */
  limit: number;
}

export interface NodeLogEntry {
  seq: number;
  kind: NodeEventKind;
  itemId: string | null;
  payload: string | null;
  publisher: string | null;
  at: Date;
}

export interface NodeLogPage {
  /** Oldest first, at most `limit`. */
  entries: NodeLogEntry[];
  /** Further matching entries exist beyond the page in the query's direction. */
  more: boolean;
}

export interface NodeLogCountOptions {
  /** Also count the matching entries with `seq` less than this. */
  precedingSeq?: number | undefined;
  /** Stop counting past this many (each count then costs at most `max` index entries). Default: count them all. */
  max?: number | undefined;
}

export interface NodeLogCount {
  /** Entries matching the filter; undefined when more than `max`. */
  total: number | undefined;
  /** Of those, the entries before `precedingSeq`: 0 when none was asked about, undefined when more than `max`. */
  preceding: number | undefined;
}

export interface NodeLogReader {
  page(nodeId: number, query: NodeLogPageQuery): Promise<NodeLogPage>;
  /** Counts the matching entries, and those of them before `precedingSeq`, each up to `max`. */
  count(nodeId: number, filter: NodeLogFilter, opts?: NodeLogCountOptions): Promise<NodeLogCount>;
  /** Which of `seqs` belong to this node's log. */
  existing(nodeId: number, seqs: readonly number[]): Promise<Set<number>>;
  /** The first and the last entry of the log; undefined when it is empty. */
  bounds(nodeId: number): Promise<{ first: NodeLogEntry; last: NodeLogEntry } | undefined>;
}

/** Largest page a reader returns (callers bound their own page size well below this). */
export const MAX_NODE_LOG_PAGE = 10_000;

/** `publisher` filter semantics shared by the implementations: bare matches any resource, full matches exactly. */
export function publisherMatches(publisher: string | null, wanted: string): boolean {
  if (publisher === null) return false;
  if (publisher === wanted) return true;
  return !wanted.includes('/') && publisher.startsWith(`${wanted}/`);
}

function matches(e: NodeLogEntry, f: NodeLogFilter, seqs: ReadonlySet<number> | undefined): boolean {
  if (f.afterSeq !== undefined && !(e.seq > f.afterSeq)) return false;
  if (f.beforeSeq !== undefined && !(e.seq < f.beforeSeq)) return false;
  if (f.start !== undefined && e.at.getTime() < f.start.getTime()) return false;
  if (f.end !== undefined && e.at.getTime() > f.end.getTime()) return false;
  if (f.publisher !== undefined && !publisherMatches(e.publisher, f.publisher)) return false;
  if (seqs !== undefined && !seqs.has(e.seq)) return false;
  return true;
}

const toEntry = (e: StoredNodeEvent): NodeLogEntry => ({ seq: e.seq, kind: e.kind, itemId: e.itemId, payload: e.payload, publisher: e.publisher, at: e.at });

export function checkPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_NODE_LOG_PAGE) throw new RangeError(`page limit must be an integer in [0, ${MAX_NODE_LOG_PAGE}]`);
}

/** A `NodeLogReader` over events held in memory (e.g. `MemoryPubsubStorage#events`), scanning them. */
export function createMemoryNodeLog(events: () => readonly StoredNodeEvent[]): NodeLogReader {
  const logOf = (nodeId: number) =>
    events()
      .filter((e) => e.nodeId === nodeId)
      .sort((a, b) => a.seq - b.seq)
      .map(toEntry);
  const select = (nodeId: number, f: NodeLogFilter) => {
    const seqs = f.seqs === undefined ? undefined : new Set(f.seqs);
    return logOf(nodeId).filter((e) => matches(e, f, seqs));
  };
  return {
    async page(nodeId, q) {
      checkPageLimit(q.limit);
      const all = select(nodeId, q);
      if (q.direction === 'forward') return { entries: all.slice(0, q.limit), more: all.length > q.limit };
      return { entries: q.limit === 0 ? [] : all.slice(-q.limit), more: all.length > q.limit };
    },
    async count(nodeId, filter, opts = {}) {
      const all = select(nodeId, filter);
      const capped = (n: number) => (opts.max !== undefined && n > opts.max ? undefined : n);
      const { precedingSeq } = opts;
      return { total: capped(all.length), preceding: precedingSeq === undefined ? 0 : capped(all.filter((e) => e.seq < precedingSeq).length) };
    },
    async existing(nodeId, seqs) {
      const wanted = new Set(seqs);
      return new Set(logOf(nodeId).filter((e) => wanted.has(e.seq)).map((e) => e.seq));
    },
    async bounds(nodeId) {
      const log = logOf(nodeId);
      const first = log[0];
      const last = log[log.length - 1];
      return first && last ? { first, last } : undefined;
    },
  };
}
