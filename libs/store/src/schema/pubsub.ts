import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * PEP nodes (XEP-0163): one pubsub service per owner bare JID (`service`), nodes by name within it.
 * `config` is the node configuration as JSON (`NodeConfig` of `@dbroker/pubsub`; keys missing in older
 * rows take their defaults when read). The row is also the per-node lock: writers take it `FOR UPDATE`.
 * A deleted node (XEP-0060 §8.4) keeps its row as a tombstone (`deleted_at` set): the append-only event
 * log references it (its last event is the `delete`), and the name is free again for a new node.
 * The node history retention (`@dbroker/pubsub` node-history-retention) deletes a tombstone and its log
 * after `NODE_TOMBSTONE_RETENTION_DAYS`.
 */
export const pubsubNodes = pgTable(
  'pubsub_nodes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    service: text('service').notNull(),
    node: text('node').notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    deletedAt: tstz('deleted_at'),
  },
  (t) => [
    uniqueIndex('pubsub_nodes_service_node_live_key').on(t.service, t.node).where(sql`${t.deletedAt} is null`),
    // tombstone retention finds the nodes deleted before its cutoff
    index('pubsub_nodes_deleted_at_idx').on(t.deletedAt).where(sql`${t.deletedAt} is not null`),
  ],
);

export const PUBSUB_EVENT_KINDS = ['publish', 'retract', 'purge', 'delete'] as const;
export type PubsubEventKind = (typeof PUBSUB_EVENT_KINDS)[number];

/**
 * Append-only history of every node (what MAM on a node serves). `seq` orders all events; `request_id`
 * is the idempotency key of the request that caused the event (unique: a retried request finds its
 * recorded outcome instead of applying again).
 * Bounded by the node history retention (age, per-node cap); the publish entry of each current item stays.
 */
export const pubsubNodeEvents = pgTable(
  'pubsub_node_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    nodeId: bigint('node_id', { mode: 'number' })
      .notNull()
      .references(() => pubsubNodes.id),
    kind: text('kind').$type<PubsubEventKind>().notNull(),
    itemId: text('item_id'),
    payload: text('payload'),
    publisher: text('publisher'),
    requestId: text('request_id'),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [
    index('pubsub_node_events_node_seq_idx').on(t.nodeId, t.seq),
    // MAM time filters (`start`/`end`) and their counts: an index-only range per node (XEP-0313 §4.1.2)
    index('pubsub_node_events_node_at_idx').on(t.nodeId, t.at, t.seq),
    uniqueIndex('pubsub_node_events_request_id_key').on(t.requestId).where(sql`${t.requestId} is not null`),
    // retract / purge / delete erase the payloads of an item's (a node's) publish entries: found here
    index('pubsub_node_events_item_payload_idx').on(t.nodeId, t.itemId).where(sql`${t.payload} is not null`),
    // history retention deletes by age over all nodes
    index('pubsub_node_events_at_idx').on(t.at),
  ],
);

/** Projection of the event log: the items currently held by each node. */
export const pubsubItems = pgTable(
  'pubsub_items',
  {
    nodeId: bigint('node_id', { mode: 'number' })
      .notNull()
      .references(() => pubsubNodes.id, { onDelete: 'cascade' }),
    itemId: text('item_id').notNull(),
    payload: text('payload').notNull(),
    publisher: text('publisher'),
    /** `seq` of the publish event that wrote this version of the item (publication order). */
    publishedSeq: bigint('published_seq', { mode: 'number' }).notNull(),
    publishedAt: tstz('published_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.itemId] }), index('pubsub_items_node_published_seq_idx').on(t.nodeId, t.publishedSeq)],
);

/**
 * What each owner (PEP service) stores, kept by the pubsub storage in the same transaction as every write
 * that changes it: live nodes, and the UTF-8 bytes (`octet_length`) of the payloads of their current items.
 * The per-user limits are checked against this row instead of counting on every write.
 */
export const pubsubOwnerUsage = pgTable('pubsub_owner_usage', {
  service: text('service').primaryKey(),
  nodes: integer('nodes').notNull().default(0),
  bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
});

export type PubsubNodeRow = typeof pubsubNodes.$inferSelect;
export type PubsubNodeEventRow = typeof pubsubNodeEvents.$inferSelect;
export type NewPubsubNodeEventRow = typeof pubsubNodeEvents.$inferInsert;
export type PubsubItemRow = typeof pubsubItems.$inferSelect;
export type PubsubOwnerUsageRow = typeof pubsubOwnerUsage.$inferSelect;
