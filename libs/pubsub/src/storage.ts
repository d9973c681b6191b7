import type { Affiliation, AffiliationLookup, SettableAffiliation } from './access';
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

/** An explicit subscription (XEP-0060 §6.1); `jid` as subscribed (full or bare). */
export interface StoredSubscription {
  nodeId: number;
  jid: string;
  subid: string;
  state: 'subscribed';
  createdAt: Date;
}

/** Who a node knows besides its owner. */
export interface NodeMembers {
  subscriptions: StoredSubscription[];
  affiliations: StoredAffiliation[];
}

/** A subscription with the name of its node (listings across a service). */
export interface ServiceSubscription extends StoredSubscription {
  node: string;
}

export interface StoredAffiliation {
  /** Bare JID. */
  jid: string;
  affiliation: SettableAffiliation;
}

export interface ListItemsQuery {
  /** Only these items (those that exist), in the order given. */
  itemIds?: readonly string[] | undefined;
  /** Newest first (default: publication order, oldest first). */
  newestFirst?: boolean | undefined;
  limit?: number | undefined;
}

/** What one owner stores: live nodes, and the UTF-8 bytes of the payloads of their current items. */
export interface OwnerUsage {
  nodes: number;
  bytes: number;
}

/** One page of a node's items in publication order (XEP-0059 over XEP-0060 §6.5). */
export interface ItemsPageQuery {
  /** Items published after this one (its id); absent: from the oldest. */
  afterItemId?: string | undefined;
  /** At most this many items (0: none, only the counts). */
  max: number;
  /** Stop before an item that would take the payloads of the page past this many bytes (the first item always comes). */
  maxBytes: number;
  /** The newest items first (XEP-0060 §6.5.7 `max_items`); no cursor then. */
  newestFirst?: boolean | undefined;
}

export interface NodeItemsPage {
  node: StoredNode;
  items: StoredItem[];
  /** Items in the node. */
  total: number;
  /** Position of the page's first item among all of them (oldest = 0). */
  firstIndex: number;
  /** False when `afterItemId` names no current item of the node. */
  cursorFound: boolean;
}

export interface NodeWithItems {
  node: StoredNode;
  items: StoredItem[];
}

/** Reads that need no lock. Deleted nodes (tombstones) are invisible to every read. */
export interface PubsubReader extends AffiliationLookup {
  getNode(service: string, node: string): Promise<StoredNode | undefined>;
  /** The live nodes of a service, by name. */
  listNodes(service: string): Promise<StoredNode[]>;
  listSubscriptions(nodeId: number): Promise<StoredSubscription[]>;
  /** Subscriptions on `service`'s nodes of `bare` itself or any of its resources, by node then JID. */
  listSubscriptionsOf(service: string, bare: string): Promise<ServiceSubscription[]>;
  /** The affiliations the owner set on a node (not the owner's own), by JID. */
  listAffiliations(nodeId: number): Promise<StoredAffiliation[]>;
  /** A live node's subscriptions and affiliations together (one round trip on Postgres: the notifier's read). */
  listNodeMembers(service: string, node: string): Promise<NodeMembers | undefined>;
  /** `bare`'s affiliations on `service`'s nodes (only those set). */
  listAffiliationsOf(service: string, bare: string): Promise<Array<{ node: string; affiliation: Affiliation }>>;
  listItems(nodeId: number, query?: ListItemsQuery): Promise<StoredItem[]>;
  /** `getNode` and then `listItems` of that node, as of one moment (one round trip on Postgres). */
  getNodeItems(service: string, node: string, query?: ListItemsQuery): Promise<NodeWithItems | undefined>;
  findRequest(requestId: string): Promise<RecordedRequest | undefined>;
  /** `getNode` and one page of its items, as of one moment (one round trip on Postgres). */
  getNodeItemsPage(service: string, node: string, query: ItemsPageQuery): Promise<NodeItemsPage | undefined>;
  /** The owner's usage (zero when it has stored nothing). */
  ownerUsage(service: string): Promise<OwnerUsage>;
  /** How many subscriptions and affiliations a node has. */
  countMembers(nodeId: number): Promise<{ subscriptions: number; affiliations: number }>;
}

export interface PubsubTransaction extends PubsubReader {
  /** The node, locked against other writers until the transaction ends (`SELECT ... FOR UPDATE`). */
  lockNode(service: string, node: string): Promise<StoredNode | undefined>;
  /**
   * Creates the node unless it exists (a concurrent creator may win); either way returns it locked and
   * whether this call created it. Every storage keeps `OwnerUsage` in step with its writes: creating,
   * deleting, storing, replacing, trimming, retracting and purging items all adjust it in the same
   * transaction. `usage` is the owner's usage including the new node (only when created).
   */
  createNode(service: string, node: string, config: NodeConfig, at: Date): Promise<{ node: StoredNode; created: boolean; usage?: OwnerUsage | undefined }>;
  /** Appends to the log. Throws `DuplicateRequestError` when `requestId` was already recorded. */
  appendEvent(event: NewNodeEvent): Promise<StoredNodeEvent>;
  /**
   * A publish on a node that persists items, in one step: `appendEvent` of a `publish` event carrying the
   * payload, `upsertItem` of that version (`publishedSeq` = the event's seq, `publishedAt` = `at`), then
   * `trimItems(nodeId, keep)`. `keep` is at least 1. Throws `DuplicateRequestError` like `appendEvent`.
   * Returns the owner's usage after it and by how many bytes this publish changed it.
   */
  publishItem(item: NewPublishedItem, keep: number): Promise<{ event: StoredNodeEvent; trimmed: string[]; usage: OwnerUsage; bytesDelta: number }>;
  /** Inserts or replaces the current item (a re-published id moves to the newest position). */
  upsertItem(item: StoredItem): Promise<void>;
  /** Removes a current item; false when it did not exist. */
  deleteItem(nodeId: number, itemId: string): Promise<boolean>;
  /** Removes the oldest current items beyond the newest `keep`; returns the removed ids. */
  trimItems(nodeId: number, keep: number): Promise<string[]>;
  /** Replaces the node's configuration. */
  updateConfig(nodeId: number, config: NodeConfig): Promise<void>;
  /** Removes every current item; returns the removed ids. */
  purgeItems(nodeId: number): Promise<string[]>;
  /**
   * Deletes the node: items, subscriptions and affiliations go, the row stays as a tombstone (its event
   * log keeps referring to it) and the name is free for a new node.
   */
  markNodeDeleted(nodeId: number, at: Date): Promise<void>;
  /**
   * Removes the payload of the `publish` entries of the node's log (of `itemId` only, when given): the
   * entries stay, without payload (retract, purge and delete forget the content, not the history).
   * Returns how many entries lost their payload.
   */
  erasePayloads(nodeId: number, itemId?: string): Promise<number>;
  /** Sets an affiliation; `none` removes it. */
  setAffiliation(nodeId: number, jid: string, affiliation: SettableAffiliation, at: Date): Promise<void>;
  /** Subscribes `jid` unless it is subscribed already; returns the subscription in force. */
  addSubscription(nodeId: number, jid: string, subid: string, at: Date): Promise<{ subscription: StoredSubscription; created: boolean }>;
  /** Removes `jid`'s subscription; returns it, or undefined when there was none. */
  removeSubscription(nodeId: number, jid: string): Promise<StoredSubscription | undefined>;
  /** Removes the subscriptions of `bare` and of its resources; returns them. */
  removeSubscriptionsOf(nodeId: number, bare: string): Promise<StoredSubscription[]>;
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
