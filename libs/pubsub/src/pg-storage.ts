import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import { pubsubItems, pubsubNodeEvents, pubsubNodes, type Database } from '@dbroker/store';
import { normaliseConfig } from './config';
import {
  DuplicateRequestError,
  type ListItemsQuery,
  type NewNodeEvent,
  type PubsubReader,
  type PubsubStorage,
  type PubsubTransaction,
  type StoredItem,
  type StoredNode,
  type StoredNodeEvent,
} from './storage';

/**
 * `PubsubStorage` on Postgres (node-postgres pool or PGlite) through drizzle, tables in
 * `@dbroker/store` (`pubsub_nodes`, `pubsub_node_events`, `pubsub_items`).
 *
 * Concurrency: every write transaction first takes its node row `FOR UPDATE` (`lockNode`), or creates
 * it with `ON CONFLICT DO NOTHING` and then takes it (`createNode`), so writers of one node run one after
 * the other on any number of replicas, and a retry's `findRequest` after the lock sees the committed
 * outcome of the first attempt. The partial unique index on `request_id` backs that up: a duplicate
 * becomes `DuplicateRequestError`.
 */

type Executor = Pick<Database, 'select' | 'insert' | 'delete'>;

const REQUEST_ID_INDEX = 'pubsub_node_events_request_id_key';

type NodeRow = typeof pubsubNodes.$inferSelect;
type EventRow = typeof pubsubNodeEvents.$inferSelect;
type ItemRow = typeof pubsubItems.$inferSelect;

const toNode = (r: NodeRow): StoredNode => ({ id: r.id, service: r.service, node: r.node, config: normaliseConfig(r.config), createdAt: r.createdAt });

const toEvent = (r: EventRow): StoredNodeEvent => ({
  seq: r.seq,
  nodeId: r.nodeId,
  kind: r.kind,
  itemId: r.itemId,
  payload: r.payload,
  publisher: r.publisher,
  requestId: r.requestId,
  at: r.at,
});

const toItem = (r: ItemRow): StoredItem => ({
  nodeId: r.nodeId,
  itemId: r.itemId,
  payload: r.payload,
  publisher: r.publisher,
  publishedSeq: r.publishedSeq,
  publishedAt: r.publishedAt,
});

/** The unique violation of the request id index, under drizzle's `DrizzleQueryError` wrapper or not. */
function isDuplicateRequest(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const pgErr = e as { code?: unknown; constraint?: unknown; message?: unknown };
    if (pgErr.code === '23505' && (pgErr.constraint === REQUEST_ID_INDEX || String(pgErr.message).includes(REQUEST_ID_INDEX))) return true;
  }
  return false;
}

function reader(db: Executor): PubsubReader {
  return {
    async getNode(service, node) {
      const rows = await db
        .select()
        .from(pubsubNodes)
        .where(and(eq(pubsubNodes.service, service), eq(pubsubNodes.node, node)));
      return rows[0] && toNode(rows[0]);
    },

    async listItems(nodeId, query: ListItemsQuery = {}) {
      if (query.itemIds) {
        if (query.itemIds.length === 0) return [];
        const rows = await db
          .select()
          .from(pubsubItems)
          .where(and(eq(pubsubItems.nodeId, nodeId), inArray(pubsubItems.itemId, [...query.itemIds])));
        const byId = new Map(rows.map((r) => [r.itemId, toItem(r)]));
        const ordered = [...new Set(query.itemIds)].flatMap((id) => byId.get(id) ?? []);
        return query.limit === undefined ? ordered : ordered.slice(0, query.limit);
      }
      const q = db
        .select()
        .from(pubsubItems)
        .where(eq(pubsubItems.nodeId, nodeId))
        .orderBy(query.newestFirst ? desc(pubsubItems.publishedSeq) : asc(pubsubItems.publishedSeq));
      const rows = query.limit === undefined ? await q : await q.limit(query.limit);
      return rows.map(toItem);
    },

    async findRequest(requestId) {
      const rows = await db
        .select({ event: pubsubNodeEvents, service: pubsubNodes.service, node: pubsubNodes.node })
        .from(pubsubNodeEvents)
        .innerJoin(pubsubNodes, eq(pubsubNodes.id, pubsubNodeEvents.nodeId))
        .where(eq(pubsubNodeEvents.requestId, requestId))
        .limit(1);
      const r = rows[0];
      return r && { event: toEvent(r.event), service: r.service, node: r.node };
    },
  };
}

function transaction(tx: Executor): PubsubTransaction {
  const read = reader(tx);
  const lockNode = async (service: string, node: string) => {
    const rows = await tx
      .select()
      .from(pubsubNodes)
      .where(and(eq(pubsubNodes.service, service), eq(pubsubNodes.node, node)))
      .for('update');
    return rows[0] && toNode(rows[0]);
  };
  return {
    ...read,
    lockNode,

    async createNode(service, node, config, at) {
      const inserted = await tx
        .insert(pubsubNodes)
        .values({ service, node, config: { ...config }, createdAt: at })
        .onConflictDoNothing({ target: [pubsubNodes.service, pubsubNodes.node] })
        .returning();
      // a new row is ours until commit (nobody else can see it): no lock needed
      if (inserted[0]) return { node: toNode(inserted[0]), created: true };
      // a concurrent creator won; the conflict waited for its commit, so the row is visible now
      const existing = await lockNode(service, node);
      if (!existing) throw new Error(`pubsub node ${service} ${node} vanished while being created`);
      return { node: existing, created: false };
    },

    async appendEvent(event: NewNodeEvent) {
      try {
        const rows = await tx.insert(pubsubNodeEvents).values(event).returning();
        const row = rows[0];
        if (!row) throw new Error('insert returned no row');
        return toEvent(row);
      } catch (err) {
        if (event.requestId !== null && isDuplicateRequest(err)) throw new DuplicateRequestError(event.requestId, { cause: err });
        throw err;
      }
    },

    async upsertItem(item) {
      await tx
        .insert(pubsubItems)
        .values(item)
        .onConflictDoUpdate({
          target: [pubsubItems.nodeId, pubsubItems.itemId],
          set: { payload: item.payload, publisher: item.publisher, publishedSeq: item.publishedSeq, publishedAt: item.publishedAt },
        });
    },

    async deleteItem(nodeId, itemId) {
      const rows = await tx
        .delete(pubsubItems)
        .where(and(eq(pubsubItems.nodeId, nodeId), eq(pubsubItems.itemId, itemId)))
        .returning({ itemId: pubsubItems.itemId });
      return rows.length > 0;
    },

    async trimItems(nodeId, keep) {
      const beyond = tx
        .select({ itemId: pubsubItems.itemId })
        .from(pubsubItems)
        .where(eq(pubsubItems.nodeId, nodeId))
        .orderBy(desc(pubsubItems.publishedSeq))
        .offset(keep);
      const rows = await tx
        .delete(pubsubItems)
        .where(and(eq(pubsubItems.nodeId, nodeId), inArray(pubsubItems.itemId, beyond)))
        .returning({ itemId: pubsubItems.itemId });
      return rows.map((r) => r.itemId);
    },
  };
}

/** Pubsub storage over the broker's database (tables must exist: run the migrations first). */
export function createPgPubsubStorage(db: Database): PubsubStorage {
  return {
    ...reader(db),
    withTransaction: (fn) => db.transaction(async (tx) => await fn(transaction(tx))),
  };
}
