import { decideNodeRead } from './node-access';
import {
  createRosterAccessPolicy,
  emptyRosterLookup,
  SETTABLE_AFFILIATIONS,
  type AccessPolicy,
  type Affiliation,
  type RosterItem,
  type RosterLookup,
  type SettableAffiliation,
} from './access';
import { buildConfig, DEFAULT_MAX_ITEMS_PER_NODE, effectiveMaxItems, unmetPrecondition, validateConfig, type NodeConfig } from './config';
import { accountJid, normalizeJid, sameBareJid } from '@dbroker/protocol';
import { createLimitChecks, DEFAULT_PUBSUB_LIMITS, type OnLimit, type PubsubLimits } from './limits';
import {
  DuplicateRequestError,
  type ListItemsQuery,
  type NodeMembers,
  type PubsubReader,
  type PubsubStorage,
  type PubsubTransaction,
  type RecordedRequest,
  type StoredItem,
  type StoredNode,
  type StoredSubscription,
} from './storage';

/**
 * The PEP engine (XEP-0163 over XEP-0060 semantics). It knows no stanzas and no sockets: values in,
 * values or a short error name out (like Prosody's util/pubsub.lua). Storage and access decisions are
 * injected; `translator.ts` maps the protocol onto it and its errors onto XMPP errors.
 */

/** Short error names. The translator maps each to an XMPP error in one table. */
export const PUBSUB_ERRORS = [
  'item-not-found',
  'node-not-found',
  'forbidden',
  'bad-request',
  'not-acceptable',
  'precondition-not-met',
  'invalid-item',
  'payload-too-big',
  'payload-required',
  'item-required',
  /** Read denied on a `presence` node (XEP-0060 §6.5.9.4 analogue for items). */
  'presence-subscription-required',
  /** Read denied on a `roster` node. */
  'not-in-roster-group',
  /** Read denied on a `whitelist` node. */
  'closed-node',
  /** Create of a node that exists (XEP-0060 §8.1.3.3). */
  'conflict',
  /** The subscription JID is not the requester's (XEP-0060 §6.1.3.1). */
  'invalid-jid',
  /** Unsubscribe without a subscription (XEP-0060 §6.2.3.2). */
  'not-subscribed',
  /** The SubID does not name the subscription (XEP-0060 §6.2.3.5). */
  'invalid-subid',
  /** Per-user limits (`limits.ts`): a new node past the account's node limit. */
  'max-nodes-exceeded',
  /** The account's stored bytes past its quota. */
  'quota-exceeded',
  /** A node's subscriptions past its limit (XEP-0060 §6.1.3.9). */
  'too-many-subscriptions',
  /** A node's affiliations past its limit. */
  'too-many-affiliations',
  'internal',
] as const;
export type PubsubErrorName = (typeof PUBSUB_ERRORS)[number];

export interface PubsubError {
  ok: false;
  error: PubsubErrorName;
  /** Human-readable detail, safe to show to the requester. */
  text?: string;
}
export type PubsubResult<T> = { ok: true; value: T } | PubsubError;

/** A subscription as reported to protocol and effects. */
export interface SubscriptionInfo {
  node: string;
  /** As subscribed: full or bare JID. */
  jid: string;
  subid: string;
  state: 'subscribed';
}

/** What happened, for whoever acts on it after the transaction (notifications, caches). */
export type PubsubEffect =
  | { type: 'node-created'; service: string; node: string; config: NodeConfig }
  | {
      type: 'published';
      service: string;
      node: string;
      config: NodeConfig;
      seq: number;
      itemId: string;
      /** Null on a node that does not persist items, when the outcome is a replay. */
      payload: string | null;
      publisher: string;
      at: Date;
    }
  | {
      type: 'retracted';
      service: string;
      node: string;
      config: NodeConfig;
      seq: number;
      itemId: string;
      /** Whether subscribers should hear of it: the request's `notify`, else the node's `notify_retract`. */
      notify: boolean;
      at: Date;
    }
  | {
      type: 'node-deleted';
      service: string;
      node: string;
      config: NodeConfig;
      seq: number;
      /** XEP-0060 §8.4.1 `<redirect uri/>`. */
      redirect?: string | undefined;
      /** The explicit subscribers the node had (their subscriptions are gone with it). */
      subscribers: Array<{ jid: string; subid: string }>;
      at: Date;
    }
  | { type: 'purged'; service: string; node: string; config: NodeConfig; seq: number; at: Date }
  | { type: 'config-changed'; service: string; node: string; config: NodeConfig; previous: NodeConfig; at: Date }
  | {
      type: 'subscribed';
      service: string;
      node: string;
      config: NodeConfig;
      subscription: SubscriptionInfo;
      /** True when this request made the subscription (false: it existed). */
      created: boolean;
      /** The item to send now (XEP-0060 §6.1.7), when `send_last_published_item` is not `never`. */
      lastItem?: PubsubItem | undefined;
    }
  | { type: 'unsubscribed'; service: string; node: string; subscription: SubscriptionInfo }
  | {
      type: 'affiliations-changed';
      service: string;
      node: string;
      changes: Array<{ jid: string; affiliation: SettableAffiliation }>;
      /** Subscriptions removed because their owner became an outcast. */
      removedSubscriptions: SubscriptionInfo[];
    };

export interface PublishOutcome {
  service: string;
  node: string;
  itemId: string;
  seq: number;
  createdNode: boolean;
  /** The request id was recorded before: this is the earlier outcome, nothing was applied now. */
  replayed: boolean;
  /** On a replay, the effects of the original application (`seq` identifies them). */
  effects: PubsubEffect[];
}

export interface RetractOutcome {
  service: string;
  node: string;
  itemId: string;
  seq: number;
  replayed: boolean;
  effects: PubsubEffect[];
}

export interface PubsubItem {
  id: string;
  payload: string;
  publisher: string | null;
  publishedAt: Date;
  seq: number;
}

export interface ItemsOutcome {
  service: string;
  node: string;
  config: NodeConfig;
  items: PubsubItem[];
  /** Set on a retrieval of all items (no `maxItems`, no `itemIds`): the page the items are. */
  page?: ItemsPageInfo | undefined;
}

export interface PublishOptions {
  /** Idempotency key: a repeated id returns the earlier outcome. */
  requestId: string;
  /** XEP-0060 §7.1.5: the config of a node this creates; preconditions on an existing one. */
  publishOptions?: Partial<NodeConfig> | undefined;
  at?: Date | undefined;
}

export interface RetractOptions {
  requestId: string;
  /** The request's `notify` attribute (XEP-0060 §7.2.2.1). */
  notify?: boolean | undefined;
  at?: Date | undefined;
}

export interface GetItemsOptions {
  /** XEP-0060 §6.5.7: the N most recent items, newest first. */
  maxItems?: number | undefined;
  /** XEP-0060 §6.5.8: these items (those that exist), in the order asked. */
  itemIds?: readonly string[] | undefined;
  /**
   * XEP-0059 on a retrieval of all items (neither `maxItems` nor `itemIds`): at most `max` (bounded by the
   * page limit) items published after the item `after`.
   */
  page?: { max?: number | undefined; after?: string | undefined } | undefined;
}

/** Where a page of a retrieval of all items lies (XEP-0059 `<set>`). */
export interface ItemsPageInfo {
  /** Items in the node. */
  count: number;
  /** Position of the first item returned (oldest = 0). */
  firstIndex: number;
}

export interface WriteOptions {
  at?: Date | undefined;
}

export interface LoggedWriteOptions extends WriteOptions {
  /** Idempotency key (the event log records it). */
  requestId: string;
}

export interface DeleteNodeOptions extends LoggedWriteOptions {
  redirect?: string | undefined;
}

export interface NodeOutcome {
  service: string;
  node: string;
  config: NodeConfig;
  effects: PubsubEffect[];
}

export interface ConfigureOutcome extends NodeOutcome {
  /** Items removed because the new config keeps fewer. */
  trimmed: string[];
}

export interface LoggedOutcome {
  service: string;
  node: string;
  seq: number;
  /** The request id was recorded before: nothing was applied now. */
  replayed: boolean;
  /** Empty on a replayed delete (the node and its subscribers are gone). */
  effects: PubsubEffect[];
}

export interface SubscribeOutcome {
  subscription: SubscriptionInfo;
  created: boolean;
  effects: PubsubEffect[];
}

export interface AffiliationEntry {
  /** Bare JID. */
  jid: string;
  affiliation: Affiliation;
}

export interface NodeAffiliation {
  node: string;
  affiliation: Affiliation;
}

export interface SubscriptionChange {
  jid: string;
  subscription: 'subscribed' | 'none';
}

export interface PubsubEngine {
  /** XEP-0060 §7.1. Auto-creates the node (§7.1.4) with default config plus publish-options. */
  publish(
    owner: string,
    node: string,
    actor: string,
    itemId: string | undefined,
    payloadXml: string,
    opts: PublishOptions,
  ): Promise<PubsubResult<PublishOutcome>>;
  /** XEP-0060 §6.5. All items in publication order, or the newest `maxItems` newest first, or by id. */
  getItems(owner: string, node: string, actor: string, opts?: GetItemsOptions): Promise<PubsubResult<ItemsOutcome>>;
  /** XEP-0060 §7.2. */
  retract(owner: string, node: string, actor: string, itemId: string, opts: RetractOptions): Promise<PubsubResult<RetractOutcome>>;

  // ---- owner use cases (XEP-0060 §8): the owner (any resource) only, else `forbidden` ----
  /** §8.1: a new node with defaults plus `config`; `conflict` when it exists. */
  createNode(owner: string, node: string, actor: string, config?: Partial<NodeConfig>, opts?: WriteOptions): Promise<PubsubResult<NodeOutcome>>;
  /** §8.2: the node's configuration. */
  getConfig(owner: string, node: string, actor: string): Promise<PubsubResult<NodeConfig>>;
  /** §8.2.4: changes the configuration; a smaller `max_items` (or `persist_items` off) removes items. */
  configure(owner: string, node: string, actor: string, changes: Partial<NodeConfig>, opts?: WriteOptions): Promise<PubsubResult<ConfigureOutcome>>;
  /** §8.3: the configuration a new node gets. */
  defaultConfig(): NodeConfig;
  /** §8.4: deletes the node; logged (`delete`), idempotent by request id. */
  deleteNode(owner: string, node: string, actor: string, opts: DeleteNodeOptions): Promise<PubsubResult<LoggedOutcome>>;
  /** §8.5: removes every item; logged (`purge`), idempotent by request id. */
  purge(owner: string, node: string, actor: string, opts: LoggedWriteOptions): Promise<PubsubResult<LoggedOutcome>>;
  /** §8.9.1: the owner first, then the affiliations set. */
  getAffiliations(owner: string, node: string, actor: string): Promise<PubsubResult<AffiliationEntry[]>>;
  /** §8.9.2: all or nothing; not on the owner's own JID; `outcast` also ends the JID's subscriptions. */
  setAffiliations(owner: string, node: string, actor: string, changes: ReadonlyArray<{ jid: string; affiliation: string }>, opts?: WriteOptions): Promise<PubsubResult<NodeOutcome>>;
  /** §8.8.1 */
  getSubscriptions(owner: string, node: string, actor: string): Promise<PubsubResult<SubscriptionInfo[]>>;
  /** §8.8.2: subscribe (`subscribed`) or unsubscribe (`none`) others; all or nothing. */
  setSubscriptions(owner: string, node: string, actor: string, changes: ReadonlyArray<SubscriptionChange>, opts?: WriteOptions): Promise<PubsubResult<NodeOutcome>>;

  // ---- entity use cases (XEP-0060 §5, §6) ----
  /** §6.1: `jid` must be the requester's (bare or one of its resources); allowed when the requester may read. */
  subscribe(owner: string, node: string, actor: string, jid: string, opts?: WriteOptions): Promise<PubsubResult<SubscribeOutcome>>;
  /** §6.2 */
  unsubscribe(owner: string, node: string, actor: string, jid: string, subid?: string, opts?: WriteOptions): Promise<PubsubResult<{ subscription: SubscriptionInfo; effects: PubsubEffect[] }>>;
  /** §5.6: the requester's subscriptions (its bare JID and resources), on one node or all of the service. */
  subscriptionsOf(owner: string, actor: string, node?: string): Promise<PubsubResult<SubscriptionInfo[]>>;
  /** §5.7: the requester's affiliations, on one node or all of the service (the owner: `owner` on every node). */
  affiliationsOf(owner: string, actor: string, node?: string): Promise<PubsubResult<NodeAffiliation[]>>;
  /** The node if it exists and the requester may read it, else `node-not-found` (disco: no leak of existence). */
  readableNode(owner: string, node: string, actor: string): Promise<PubsubResult<StoredNode>>;
  /** The nodes of the service the requester may read, by name. */
  readableNodes(owner: string, actor: string): Promise<StoredNode[]>;
  /** A node's subscriptions and affiliations in one read, for notification planning (no requester: never exposed to one). */
  nodeMembers(owner: string, node: string): Promise<NodeMembers | undefined>;
}

export interface PubsubEngineOptions {
  storage: PubsubStorage;
  /**
   * The owners' rosters (`presence` / `roster` access models). Default: every roster is empty. Ignored
   * when `access` is given.
   */
  roster?: RosterLookup | undefined;
  /**
   * The read decision's facts. Default: `createRosterAccessPolicy(roster, storage)` (affiliations from
   * this storage). Give the same policy to every reader of these nodes (MAM included).
   */
  access?: AccessPolicy | undefined;
  generateSubId?: (() => string) | undefined;
  now?: (() => Date) | undefined;
  generateItemId?: (() => string) | undefined;
  /** Largest payload accepted, in UTF-8 bytes of its XML. */
  maxPayloadBytes?: number | undefined;
  /** Upper bound of `max_items`, and what `max` means. */
  maxItemsPerNode?: number | undefined;
  /** Per-user limits (`DEFAULT_PUBSUB_LIMITS` for those not given); `maxPayloadBytes` above, when given, wins over theirs. */
  limits?: Partial<PubsubLimits> | undefined;
  /** Told of every refusal or truncation by a limit. */
  onLimit?: OnLimit | undefined;
  /**
   * Keep the payloads of retracted, purged and deleted items in the node's log (MAM then still serves
   * them). Default false: those operations erase the payloads from the log (`erasePayloads`).
   */
  keepRetractedPayloads?: boolean | undefined;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = DEFAULT_PUBSUB_LIMITS.maxPayloadBytes;
/** Bounds of node names and item ids (they are btree index keys). */
export const MAX_NODE_NAME_BYTES = 1024;
export const MAX_ITEM_ID_BYTES = 1024;
/** Bound of `maxItems` and of the number of ids in one retrieval. */
export const MAX_ITEMS_PER_REQUEST = 1000;

const fail = (error: PubsubErrorName, text?: string): PubsubError => (text === undefined ? { ok: false, error } : { ok: false, error, text });
const ok = <T>(value: T): PubsubResult<T> => ({ ok: true, value });
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** An error result returned from inside a transaction: roll it back, then return the result. */
class Abort {
  constructor(readonly result: PubsubError) {}
}


function checkNodeName(node: string): PubsubError | undefined {
  if (node.length === 0) return fail('bad-request', 'node name required');
  if (utf8Bytes(node) > MAX_NODE_NAME_BYTES) return fail('not-acceptable', 'node name too long');
  return undefined;
}

function checkItemId(itemId: string): PubsubError | undefined {
  if (itemId.length === 0) return fail('item-required');
  if (utf8Bytes(itemId) > MAX_ITEM_ID_BYTES) return fail('invalid-item', 'item id too long');
  return undefined;
}

export function createPubsubEngine(options: PubsubEngineOptions): PubsubEngine {
  const storage = options.storage;
  const access = options.access ?? createRosterAccessPolicy(options.roster ?? emptyRosterLookup, storage);
  const generateSubId = options.generateSubId ?? (() => crypto.randomUUID());
  const now = options.now ?? (() => new Date());
  const generateItemId = options.generateItemId ?? (() => crypto.randomUUID());
  const maxPayloadBytes = options.maxPayloadBytes ?? options.limits?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxItemsPerNode = options.maxItemsPerNode ?? DEFAULT_MAX_ITEMS_PER_NODE;
  /** Retract, purge and delete forget the content in the log too, unless the operator keeps it. */
  const forgetPayloads = async (tx: PubsubTransaction, nodeId: number, itemId?: string) => {
    if (!options.keepRetractedPayloads) await tx.erasePayloads(nodeId, itemId);
  };
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1) throw new RangeError('maxPayloadBytes must be a positive integer');
  if (!Number.isInteger(maxItemsPerNode) || maxItemsPerNode < 1) throw new RangeError('maxItemsPerNode must be a positive integer');
  const limits = createLimitChecks({ ...options.limits, maxPayloadBytes }, options.onLimit);

  /**
   * One write transaction. An error result rolls back whatever was written. Request ids are fresh per
   * delegated IQ, so the first attempt does not look the id up (one query less on the hot path): a
   * duplicate (a retry, or a concurrent one that won the race) hits the unique index, rolls back and runs
   * once more with `retry` set, and that rerun finds the recorded outcome.
   */
  async function write<T>(fn: (tx: PubsubTransaction, retry: boolean) => Promise<PubsubResult<T>>): Promise<PubsubResult<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await storage.withTransaction(async (tx) => {
          const result = await fn(tx, attempt > 0);
          if (!result.ok) throw new Abort(result);
          return result;
        });
      } catch (err) {
        if (err instanceof Abort) return err.result;
        if (err instanceof DuplicateRequestError && attempt === 0) continue;
        throw err;
      }
    }
  }

  /** A recorded request must be the same operation on the same node, or the id was reused. */
  function recordedMismatch(rec: RecordedRequest, service: string, node: string, kind: RecordedRequest['event']['kind']): PubsubError | undefined {
    if (rec.service === service && rec.node === node && rec.event.kind === kind) return undefined;
    return fail('bad-request', 'request id already used for a different request');
  }

  /**
   * The read decision shared with every other read path (MAM on nodes included). A node the requester may
   * not read answers exactly like a node that does not exist (`hidden`), on every path: its existence is
   * not revealed (the access-model conditions of XEP-0060 §6.5.9 would reveal it).
   */
  async function mayRead(stored: StoredNode, actor: string, policy: AccessPolicy = access): Promise<PubsubError | undefined> {
    const decision = await decideNodeRead(stored, actor, policy);
    return decision.allowed ? undefined : hidden();
  }
  const hidden = () => fail('node-not-found');

  const toItem = (i: StoredItem): PubsubItem => ({ id: i.itemId, payload: i.payload, publisher: i.publisher, publishedAt: i.publishedAt, seq: i.publishedSeq });

  const isPublisher = async (r: PubsubReader, stored: StoredNode, actor: string) => (await r.getAffiliation(stored.service, stored.node, accountJid(actor))) === 'publisher';

  /** Common checks of an owner use case: a valid node name and the owner as requester. */
  function ownerCheck(owner: string, node: string, actor: string): PubsubError | undefined {
    return checkNodeName(node) ?? (sameBareJid(actor, owner) ? undefined : fail('forbidden'));
  }

  const info = (node: string, s: StoredSubscription): SubscriptionInfo => ({ node, jid: s.jid, subid: s.subid, state: s.state });

  /** A recorded delete or purge of this node by this request: the replay of a logged owner operation. */
  async function recordedLogged(tx: PubsubTransaction, requestId: string, service: string, node: string, kind: 'delete' | 'purge'): Promise<PubsubResult<RecordedRequest> | undefined> {
    const rec = await tx.findRequest(requestId);
    if (!rec) return undefined;
    return recordedMismatch(rec, service, node, kind) ?? ok(rec);
  }

  async function lastItemOf(r: PubsubReader, stored: StoredNode): Promise<PubsubItem | undefined> {
    if (stored.config.send_last_published_item === 'never') return undefined;
    const [last] = await r.listItems(stored.id, { newestFirst: true, limit: 1 });
    return last && toItem(last);
  }

  /** A retrieval of all items, one page of them (XEP-0060 §6.5.4 with XEP-0059). */
  async function itemsPage(service: string, node: string, actor: string, page: GetItemsOptions['page']): Promise<PubsubResult<ItemsOutcome>> {
    const asked = page?.max;
    if (asked !== undefined && (!Number.isInteger(asked) || asked < 0)) return fail('bad-request', 'RSM max must be a non-negative integer');
    if (page?.after !== undefined) {
      const bad = checkItemId(page.after);
      if (bad) return bad;
    }
    const max = limits.pageSize(asked);
    const found = await storage.getNodeItemsPage(service, node, { afterItemId: page?.after, max, maxBytes: limits.limits.itemsPageMaxBytes });
    if (!found) return fail('node-not-found');
    const denied = await mayRead(found.node, actor);
    if (denied) return denied;
    // XEP-0059 §2.5: a cursor that names no item
    if (!found.cursorFound) return fail('item-not-found', 'no such item to page after');
    const remaining = found.total - found.firstIndex;
    if (found.items.length < Math.min(remaining, asked ?? Number.POSITIVE_INFINITY)) limits.pageTruncated(service, node, found.items.length, remaining);
    return ok({ service, node, config: found.node.config, items: found.items.map(toItem), page: { count: found.total, firstIndex: found.firstIndex } });
  }

  /** XEP-0060 §6.5.7: the newest `maxItems`, clamped to one page (its count and its payload bytes). */
  async function newestItems(service: string, node: string, actor: string, maxItems: number): Promise<PubsubResult<ItemsOutcome>> {
    const max = limits.pageSize(maxItems);
    const found = await storage.getNodeItemsPage(service, node, { max, maxBytes: limits.limits.itemsPageMaxBytes, newestFirst: true });
    if (!found) return fail('node-not-found');
    const denied = await mayRead(found.node, actor);
    if (denied) return denied;
    if (found.items.length < Math.min(maxItems, found.total)) limits.pageTruncated(service, node, found.items.length, Math.min(maxItems, found.total));
    return ok({ service, node, config: found.node.config, items: found.items.map(toItem) });
  }

  /** The access policy with the owner's roster fetched at most once (listings decide many nodes). */
  function memoisedPolicy(): AccessPolicy {
    const rosters = new Map<string, Promise<RosterItem | undefined>>();
    return {
      affiliation: (n, a) => access.affiliation(n, a),
      rosterEntry(o, a) {
        const key = `${o}\u0000${a}`;
        let p = rosters.get(key);
        if (!p) rosters.set(key, (p = access.rosterEntry(o, a)));
        return p;
      },
    };
  }

  return {
    async publish(owner, node, actor, itemId, payloadXml, opts) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node) ?? (itemId === undefined ? undefined : checkItemId(itemId));
      if (invalid) return invalid;
      if (payloadXml.length === 0) return fail('payload-required');
      const tooBig = limits.payload(service, node, utf8Bytes(payloadXml));
      if (tooBig) return tooBig;
      const publishOptions = opts.publishOptions;
      if (publishOptions) {
        const bad = validateConfig(publishOptions, maxItemsPerNode);
        if (bad) return fail(bad.error, bad.text);
      }
      // publish_model 'publishers': the owner and the `publisher` affiliates of an existing node
      const isOwner = sameBareJid(actor, service);
      const at = opts.at ?? now();

      return await write<PublishOutcome>(async (tx, retry) => {
        let stored = await tx.lockNode(service, node);
        if (!isOwner && !(stored && (await isPublisher(tx, stored, actor)))) return fail('forbidden');
        let createdNode = false;
        if (!stored) {
          const config = buildConfig(publishOptions);
          const made = await tx.createNode(service, node, config, at);
          ({ node: stored, created: createdNode } = made);
          const over = made.usage && limits.nodeCreated(service, node, made.usage);
          if (over) return over;
        }
        const recorded = retry ? await tx.findRequest(opts.requestId) : undefined;
        if (recorded) {
          const mismatch = recordedMismatch(recorded, service, node, 'publish');
          if (mismatch) return mismatch;
          const ev = recorded.event;
          const effect: PubsubEffect = {
            type: 'published',
            service,
            node,
            config: stored.config,
            seq: ev.seq,
            itemId: ev.itemId ?? '',
            payload: ev.payload,
            publisher: ev.publisher ?? actor,
            at: ev.at,
          };
          return ok({ service, node, itemId: ev.itemId ?? '', seq: ev.seq, createdNode: false, replayed: true, effects: [effect] });
        }
        if (!createdNode && publishOptions) {
          const unmet = unmetPrecondition(stored.config, publishOptions, maxItemsPerNode);
          if (unmet) return fail('precondition-not-met', `node ${unmet} differs`);
        }
        const config = stored.config;
        const id = itemId ?? generateItemId();
        // persistent: the event, the item and the trim to max_items in one storage step
        let event;
        if (config.persist_items) {
          const written = await tx.publishItem({ nodeId: stored.id, itemId: id, payload: payloadXml, publisher: actor, requestId: opts.requestId, at }, effectiveMaxItems(config, maxItemsPerNode));
          const over = limits.itemStored(service, node, written.usage, written.bytesDelta);
          if (over) return over;
          event = written.event;
        } else {
          event = await tx.appendEvent({ nodeId: stored.id, kind: 'publish', itemId: id, payload: null, publisher: actor, requestId: opts.requestId, at });
        }
        const effects: PubsubEffect[] = [];
        if (createdNode) effects.push({ type: 'node-created', service, node, config });
        effects.push({ type: 'published', service, node, config, seq: event.seq, itemId: id, payload: payloadXml, publisher: actor, at });
        return ok({ service, node, itemId: id, seq: event.seq, createdNode, replayed: false, effects });
      });
    },

    async getItems(owner, node, actor, opts = {}) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node);
      if (invalid) return invalid;
      const { maxItems, itemIds } = opts;
      if (maxItems !== undefined && (!Number.isInteger(maxItems) || maxItems < 1)) return fail('bad-request', 'max_items must be a positive integer');
      if (itemIds !== undefined) {
        if (itemIds.length > MAX_ITEMS_PER_REQUEST) return fail('not-acceptable', 'too many item ids');
        for (const id of itemIds) {
          const bad = checkItemId(id);
          if (bad) return bad;
        }
      }
      const byIds = itemIds !== undefined && itemIds.length > 0;
      if (!byIds && maxItems === undefined) return await itemsPage(service, node, actor, opts.page);
      if (!byIds) return await newestItems(service, node, actor, maxItems ?? 1);
      const query: ListItemsQuery = { itemIds };
      // node and items at once (one round trip); the items of a denied read are dropped unseen
      const found = await storage.getNodeItems(service, node, query);
      if (!found) return fail('node-not-found');
      const denied = await mayRead(found.node, actor);
      if (denied) return denied;
      return ok({ service, node, config: found.node.config, items: found.items.map(toItem) });
    },

    async retract(owner, node, actor, itemId, opts) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node) ?? checkItemId(itemId);
      if (invalid) return invalid;
      const isOwner = sameBareJid(actor, service);
      const at = opts.at ?? now();

      return await write<RetractOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!isOwner && !(stored && (await isPublisher(tx, stored, actor)))) return fail('forbidden');
        if (!stored) return fail('node-not-found');
        const notify = opts.notify ?? stored.config.notify_retract;
        const recorded = await tx.findRequest(opts.requestId);
        if (recorded) {
          const mismatch = recordedMismatch(recorded, service, node, 'retract');
          if (mismatch) return mismatch;
          const ev = recorded.event;
          const id = ev.itemId ?? '';
          const effect: PubsubEffect = { type: 'retracted', service, node, config: stored.config, seq: ev.seq, itemId: id, notify, at: ev.at };
          return ok({ service, node, itemId: id, seq: ev.seq, replayed: true, effects: [effect] });
        }
        if (!(await tx.deleteItem(stored.id, itemId))) return fail('item-not-found');
        await forgetPayloads(tx, stored.id, itemId);
        const event = await tx.appendEvent({
          nodeId: stored.id,
          kind: 'retract',
          itemId,
          payload: null,
          publisher: actor,
          requestId: opts.requestId,
          at,
        });
        const effect: PubsubEffect = { type: 'retracted', service, node, config: stored.config, seq: event.seq, itemId, notify, at };
        return ok({ service, node, itemId, seq: event.seq, replayed: false, effects: [effect] });
      });
    },

    async createNode(owner, node, actor, config = {}, opts = {}) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const invalid = validateConfig(config, maxItemsPerNode);
      if (invalid) return fail(invalid.error, invalid.text);
      const at = opts.at ?? now();
      const full = buildConfig(config);
      return await write<NodeOutcome>(async (tx) => {
        const { created, usage } = await tx.createNode(service, node, full, at);
        if (!created) return fail('conflict', 'node exists');
        const over = usage && limits.nodeCreated(service, node, usage);
        if (over) return over;
        return ok({ service, node, config: full, effects: [{ type: 'node-created', service, node, config: full }] });
      });
    },

    async getConfig(owner, node, actor) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const stored = await storage.getNode(service, node);
      return stored ? ok(stored.config) : fail('node-not-found');
    },

    async configure(owner, node, actor, changes, opts = {}) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const invalid = validateConfig(changes, maxItemsPerNode);
      if (invalid) return fail(invalid.error, invalid.text);
      const at = opts.at ?? now();
      return await write<ConfigureOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        const config = buildConfig(changes, stored.config);
        await tx.updateConfig(stored.id, config);
        const trimmed = config.persist_items ? await tx.trimItems(stored.id, effectiveMaxItems(config, maxItemsPerNode)) : await tx.purgeItems(stored.id);
        const effects: PubsubEffect[] = [{ type: 'config-changed', service, node, config, previous: stored.config, at }];
        return ok({ service, node, config, trimmed, effects });
      });
    },

    defaultConfig: () => buildConfig(),

    async deleteNode(owner, node, actor, opts) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const at = opts.at ?? now();
      return await write<LoggedOutcome>(async (tx, retry) => {
        const stored = await tx.lockNode(service, node);
        if (!stored || retry) {
          // gone: deleted by this very request before (a retry), or never there
          const rec = await recordedLogged(tx, opts.requestId, service, node, 'delete');
          if (rec && !rec.ok) return rec;
          if (rec?.ok) return ok({ service, node, seq: rec.value.event.seq, replayed: true, effects: [] });
          if (!stored) return fail('node-not-found');
        }
        const subscribers = (await tx.listSubscriptions(stored.id)).map((x) => ({ jid: x.jid, subid: x.subid }));
        const event = await tx.appendEvent({ nodeId: stored.id, kind: 'delete', itemId: null, payload: null, publisher: actor, requestId: opts.requestId, at });
        await tx.markNodeDeleted(stored.id, at);
        await forgetPayloads(tx, stored.id);
        const effect: PubsubEffect = { type: 'node-deleted', service, node, config: stored.config, seq: event.seq, redirect: opts.redirect, subscribers, at };
        return ok({ service, node, seq: event.seq, replayed: false, effects: [effect] });
      });
    },

    async purge(owner, node, actor, opts) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const at = opts.at ?? now();
      return await write<LoggedOutcome>(async (tx, retry) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        if (retry) {
          const rec = await recordedLogged(tx, opts.requestId, service, node, 'purge');
          if (rec && !rec.ok) return rec;
          if (rec?.ok) {
            const ev = rec.value.event;
            return ok({ service, node, seq: ev.seq, replayed: true, effects: [{ type: 'purged', service, node, config: stored.config, seq: ev.seq, at: ev.at }] });
          }
        }
        await tx.purgeItems(stored.id);
        await forgetPayloads(tx, stored.id);
        const event = await tx.appendEvent({ nodeId: stored.id, kind: 'purge', itemId: null, payload: null, publisher: actor, requestId: opts.requestId, at });
        return ok({ service, node, seq: event.seq, replayed: false, effects: [{ type: 'purged', service, node, config: stored.config, seq: event.seq, at }] });
      });
    },

    async getAffiliations(owner, node, actor) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const stored = await storage.getNode(service, node);
      if (!stored) return fail('node-not-found');
      const set = await storage.listAffiliations(stored.id);
      return ok([{ jid: service, affiliation: 'owner' as const }, ...set]);
    },

    async setAffiliations(owner, node, actor, changes, opts = {}) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const parsed: Array<{ jid: string; affiliation: SettableAffiliation }> = [];
      for (const c of changes) {
        const jid = accountJid(c.jid);
        if (jid === '' || jid.length > MAX_NODE_NAME_BYTES) return fail('bad-request', 'invalid jid');
        if (jid === service) return fail('not-acceptable', 'the owner cannot change their own affiliation');
        if (!(SETTABLE_AFFILIATIONS as readonly string[]).includes(c.affiliation)) return fail('not-acceptable', `affiliation ${c.affiliation} cannot be set`);
        parsed.push({ jid, affiliation: c.affiliation as SettableAffiliation });
      }
      const at = opts.at ?? now();
      return await write<NodeOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        const removed: SubscriptionInfo[] = [];
        for (const c of parsed) {
          await tx.setAffiliation(stored.id, c.jid, c.affiliation, at);
          if (c.affiliation === 'outcast') removed.push(...(await tx.removeSubscriptionsOf(stored.id, c.jid)).map((x) => info(node, x)));
        }
        if (parsed.some((c) => c.affiliation !== 'none')) {
          const over = limits.affiliationsSet(service, node, (await tx.countMembers(stored.id)).affiliations);
          if (over) return over;
        }
        const effects: PubsubEffect[] = [{ type: 'affiliations-changed', service, node, changes: parsed, removedSubscriptions: removed }];
        return ok({ service, node, config: stored.config, effects });
      });
    },

    async getSubscriptions(owner, node, actor) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const stored = await storage.getNode(service, node);
      if (!stored) return fail('node-not-found');
      return ok((await storage.listSubscriptions(stored.id)).map((x) => info(node, x)));
    },

    async setSubscriptions(owner, node, actor, changes, opts = {}) {
      const service = accountJid(owner);
      const bad = ownerCheck(service, node, actor);
      if (bad) return bad;
      const normalized: Array<{ jid: string; subscription: 'subscribed' | 'none' }> = [];
      for (const c of changes) {
        const jid = normalizeJid(c.jid) ?? '';
        if (jid === '' || jid.length > MAX_NODE_NAME_BYTES) return fail('bad-request', 'invalid jid');
        if (c.subscription !== 'subscribed' && c.subscription !== 'none') return fail('not-acceptable', `subscription state ${String(c.subscription)} cannot be set`);
        normalized.push({ jid, subscription: c.subscription });
      }
      const at = opts.at ?? now();
      return await write<NodeOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        const effects: PubsubEffect[] = [];
        for (const c of normalized) {
          if (c.subscription === 'subscribed') {
            const { subscription, created } = await tx.addSubscription(stored.id, c.jid, generateSubId(), at);
            if (created) effects.push({ type: 'subscribed', service, node, config: stored.config, subscription: info(node, subscription), created, lastItem: await lastItemOf(tx, stored) });
          } else {
            const gone = await tx.removeSubscription(stored.id, c.jid);
            if (gone) effects.push({ type: 'unsubscribed', service, node, subscription: info(node, gone) });
          }
        }
        if (effects.some((e) => e.type === 'subscribed')) {
          const over = limits.subscriptionsAdded(service, node, (await tx.countMembers(stored.id)).subscriptions);
          if (over) return over;
        }
        return ok({ service, node, config: stored.config, effects });
      });
    },

    async subscribe(owner, node, actor, asked, opts = {}) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node);
      if (invalid) return invalid;
      const jid = normalizeJid(asked) ?? '';
      if (jid === '' || !sameBareJid(jid, actor)) return fail('invalid-jid');
      const at = opts.at ?? now();
      // Decide before the transaction (the policy may need connections of its own: a transaction that
      // waits for another connection can starve a pool, or deadlock PGlite's single one), then again on
      // the locked node with the transaction's affiliations and the roster entry already fetched.
      const policy = memoisedPolicy();
      const seen = await storage.getNode(service, node);
      if (!seen) return fail('node-not-found');
      const first = await mayRead(seen, actor, policy);
      if (first) return first;
      return await write<SubscribeOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        const inTx: AccessPolicy = { affiliation: (n, a) => tx.getAffiliation(n.service, n.node, a), rosterEntry: policy.rosterEntry };
        const denied = await mayRead(stored, actor, inTx);
        if (denied) return denied;
        const { subscription, created } = await tx.addSubscription(stored.id, jid, generateSubId(), at);
        if (created) {
          const over = limits.subscriptionsAdded(service, node, (await tx.countMembers(stored.id)).subscriptions);
          if (over) return over;
        }
        const sub = info(node, subscription);
        const effect: PubsubEffect = { type: 'subscribed', service, node, config: stored.config, subscription: sub, created, lastItem: await lastItemOf(tx, stored) };
        return ok({ subscription: sub, created, effects: [effect] });
      });
    },

    async unsubscribe(owner, node, actor, asked, subid, _opts = {}) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node);
      if (invalid) return invalid;
      const jid = normalizeJid(asked) ?? '';
      if (jid === '' || !sameBareJid(jid, actor)) return fail('invalid-jid');
      // decided outside the transaction (see subscribe); only needed when there is nothing to end
      const seen = await storage.getNode(service, node);
      const readable = seen !== undefined && (await mayRead(seen, actor)) === undefined;
      return await write<{ subscription: SubscriptionInfo; effects: PubsubEffect[] }>(async (tx) => {
        const stored = await tx.lockNode(service, node);
        if (!stored) return fail('node-not-found');
        const existing = (await tx.listSubscriptions(stored.id)).find((x) => x.jid === jid);
        // a subscriber knows the node; anyone else who may not read it learns nothing of it
        if (!existing) return readable ? fail('not-subscribed') : hidden();
        if (subid !== undefined && subid !== existing.subid) return fail('invalid-subid');
        await tx.removeSubscription(stored.id, jid);
        const sub = info(node, existing);
        return ok({ subscription: sub, effects: [{ type: 'unsubscribed', service, node, subscription: sub }] });
      });
    },

    async subscriptionsOf(owner, actor, node) {
      const service = accountJid(owner);
      let stored: StoredNode | undefined;
      if (node !== undefined) {
        const invalid = checkNodeName(node);
        if (invalid) return invalid;
        stored = await storage.getNode(service, node);
        if (!stored) return fail('node-not-found');
      }
      const all = await storage.listSubscriptionsOf(service, accountJid(actor));
      const listed = all.filter((x) => node === undefined || x.node === node).map((x) => info(x.node, x));
      // a subscriber knows the node; anyone else who may not read it learns nothing of it
      if (stored && listed.length === 0) {
        const denied = await mayRead(stored, actor);
        if (denied) return denied;
      }
      return ok(listed);
    },

    async affiliationsOf(owner, actor, node) {
      const service = accountJid(owner);
      let stored: StoredNode | undefined;
      if (node !== undefined) {
        const invalid = checkNodeName(node);
        if (invalid) return invalid;
        stored = await storage.getNode(service, node);
        if (!stored) return fail('node-not-found');
      }
      if (sameBareJid(actor, service)) {
        const nodes = node === undefined ? (await storage.listNodes(service)).map((n) => n.node) : [node];
        return ok(nodes.map((n) => ({ node: n, affiliation: 'owner' as const })));
      }
      if (stored) {
        const denied = await mayRead(stored, actor);
        if (denied) return denied;
      }
      // outcast entries name nodes the requester may not see: never listed (an outcast reads nothing)
      const all = await storage.listAffiliationsOf(service, accountJid(actor));
      return ok(all.filter((a) => (node === undefined || a.node === node) && a.affiliation !== 'outcast'));
    },

    async readableNode(owner, node, actor) {
      const service = accountJid(owner);
      const invalid = checkNodeName(node);
      if (invalid) return fail('node-not-found');
      const stored = await storage.getNode(service, node);
      if (!stored || !(await decideNodeRead(stored, actor, access)).allowed) return fail('node-not-found');
      return ok(stored);
    },

    async nodeMembers(owner, node) {
      return await storage.listNodeMembers(accountJid(owner), node);
    },

    async readableNodes(owner, actor) {
      const nodes = await storage.listNodes(accountJid(owner));
      const policy = memoisedPolicy();
      const allowed = await Promise.all(nodes.map(async (n) => (await decideNodeRead(n, actor, policy)).allowed));
      return nodes.filter((_, i) => allowed[i]);
    },
  };
}
