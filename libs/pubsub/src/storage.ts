import type { NodeConfig } from './config';

/**
 * What the engine needs from persistence. Node history is an append-only event log; the current items
 * are a projection of it that the engine keeps up to date in the same transaction. Implementations:
 * `createMemoryPubsubStorage()` (in-process) and `createPgPubsubStorage(handle.raw)` (Postgres / PGlite).
 */

export const NODE_EVENT_KINDS = ['publish', 'retract', 'purge', 'delete'] as const;
export type NodeEventKind = (typeof NODE_EVENT_KINDS)[number];

export interface StoredNode {
  id: number;
  /** Owner bare JID: one PEP service per account. */
  service: string;
  node: string;
  config: NodeConfig;
  createdAt: Date;
}

export interface NewNodeEvent {
  nodeId: number;
  kind: NodeEventKind;
  itemId: string | null;
  /** Item payload XML (publish on a persistent node), else null. */
  payload: string | null;
  /** Full JID of the entity that caused the event. */
  publisher: string | null;
  /** Idempotency key of the request that caused the event; unique when set. */
  requestId: string | null;
  at: Date;
}

export interface StoredNodeEvent extends NewNodeEvent {
  /** Monotonically increasing over all nodes; the order of history. */
  seq: number;
}

/** A publish to a node that persists items: the event and the item version it writes. */
export interface NewPublishedItem {
  nodeId: number;
  itemId: string;
  payload: string;
  /** Full JID of the publisher. */
  publisher: string | null;
  requestId: string | null;
  at: Date;
}

/** An event found by its request id, with the node it belongs to. */
export interface RecordedRequest {
  event: StoredNodeEvent;
  service: string;
  node: string;
}

export interface StoredItem {
  nodeId: number;
  itemId: string;
  payload: string;
  publisher: string | null;
  /** `seq` of the publish event that wrote this version: the publication order. */
  publishedSeq: number;
  publishedAt: Date;
}

export interface ListItemsQuery {
  /** Only these items (those that exist), in the order given. */
  itemIds?: readonly string[] | undefined;
  /** Newest first (default: publication order, oldest first). */
  newestFirst?: boolean | undefined;
  limit?: number | undefined;
}

export interface NodeWithItems {
  node: StoredNode;
  items: StoredItem[];
}

/** Reads that need no lock. */
export interface PubsubReader {
  getNode(service: string, node: string): Promise<StoredNode | undefined>;
  listItems(nodeId: number, query?: ListItemsQuery): Promise<StoredItem[]>;
  /** `getNode` and then `listItems` of that node, as of one moment (one round trip on Postgres). */
  getNodeItems(service: string, node: string, query?: ListItemsQuery): Promise<NodeWithItems | undefined>;
  findRequest(requestId: string): Promise<RecordedRequest | undefined>;
}

export interface PubsubTransaction extends PubsubReader {
  /** The node, locked against other writers until the transaction ends (`SELECT ... FOR UPDATE`). */
  lockNode(service: string, node: string): Promise<StoredNode | undefined>;
  /**
   * Creates the node unless it exists (a concurrent creator may win); either way returns it locked and
   * whether this call created it.
   */
  createNode(service: string, node: string, config: NodeConfig, at: Date): Promise<{ node: StoredNode; created: boolean }>;
  /** Appends to the log. Throws `DuplicateRequestError` when `requestId` was already recorded. */
  appendEvent(event: NewNodeEvent): Promise<StoredNodeEvent>;
  /**
   * A publish on a node that persists items, in one step: `appendEvent` of a `publish` event carrying the
   * payload, `upsertItem` of that version (`publishedSeq` = the event's seq, `publishedAt` = `at`), then
   * `trimItems(nodeId, keep)`. `keep` is at least 1. Throws `DuplicateRequestError` like `appendEvent`.
   */
  publishItem(item: NewPublishedItem, keep: number): Promise<{ event: StoredNodeEvent; trimmed: string[] }>;
  /** Inserts or replaces the current item (a re-published id moves to the newest position). */
  upsertItem(item: StoredItem): Promise<void>;
  /** Removes a current item; false when it did not exist. */
  deleteItem(nodeId: number, itemId: string): Promise<boolean>;
  /** Removes the oldest current items beyond the newest `keep`; returns the removed ids. */
  trimItems(nodeId: number, keep: number): Promise<string[]>;
}

export interface PubsubStorage extends PubsubReader {
  /**
   * Runs `fn` in one transaction: all of its writes happen or none do (a throw rolls back).
   * Transactions touching the same node are serialised by `lockNode`/`createNode`.
   */
  withTransaction<T>(fn: (tx: PubsubTransaction) => Promise<T>): Promise<T>;
}

/** The request id of an event being appended is already in the log. */
export class DuplicateRequestError extends Error {
  override name = 'DuplicateRequestError';
  readonly code = 'duplicate-request';
  constructor(
    readonly requestId: string,
    options?: { cause?: unknown },
  ) {
    super(`request ${requestId} is already recorded`, options);
  }
}
