import { decideNodeRead } from './node-access';
import { ownerOnlyAccessPolicy, type AccessPolicy } from './access';
import {
  DEFAULT_MAX_ITEMS_PER_NODE,
  DEFAULT_NODE_CONFIG,
  effectiveMaxItems,
  unmetPrecondition,
  validateConfig,
  type AccessModel,
  type NodeConfig,
} from './config';
import { bareJid, isSameAccount } from './jid';
import { DuplicateRequestError, type ListItemsQuery, type PubsubStorage, type PubsubTransaction, type RecordedRequest, type StoredItem, type StoredNode } from './storage';

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
}

export interface PubsubEngineOptions {
  storage: PubsubStorage;
  /** Who may read non-open nodes besides the owner. Default: nobody. */
  access?: AccessPolicy | undefined;
  now?: (() => Date) | undefined;
  generateItemId?: (() => string) | undefined;
  /** Largest payload accepted, in UTF-8 bytes of its XML. */
  maxPayloadBytes?: number | undefined;
  /** Upper bound of `max_items`, and what `max` means. */
  maxItemsPerNode?: number | undefined;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Bounds of node names and item ids (they are btree index keys). */
export const MAX_NODE_NAME_BYTES = 1024;
export const MAX_ITEM_ID_BYTES = 1024;
/** Bound of `maxItems` and of the number of ids in one retrieval. */
export const MAX_ITEMS_PER_REQUEST = 1000;

const fail = (error: PubsubErrorName, text?: string): PubsubError => (text === undefined ? { ok: false, error } : { ok: false, error, text });
const ok = <T>(value: T): PubsubResult<T> => ({ ok: true, value });
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const definedOnly = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

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
  const access = options.access ?? ownerOnlyAccessPolicy;
  const now = options.now ?? (() => new Date());
  const generateItemId = options.generateItemId ?? (() => crypto.randomUUID());
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxItemsPerNode = options.maxItemsPerNode ?? DEFAULT_MAX_ITEMS_PER_NODE;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1) throw new RangeError('maxPayloadBytes must be a positive integer');
  if (!Number.isInteger(maxItemsPerNode) || maxItemsPerNode < 1) throw new RangeError('maxItemsPerNode must be a positive integer');

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
  function recordedMismatch(rec: RecordedRequest, service: string, node: string, kind: 'publish' | 'retract'): PubsubError | undefined {
    if (rec.service === service && rec.node === node && rec.event.kind === kind) return undefined;
    return fail('bad-request', 'request id already used for a different request');
  }

  /** The read decision shared with every other read path (MAM on nodes included). */
  async function mayRead(stored: StoredNode, actor: string): Promise<PubsubError | undefined> {
    const decision = await decideNodeRead(stored, actor, access);
    return decision.allowed ? undefined : fail(decision.denial);
  }

  const toItem = (i: StoredItem): PubsubItem => ({ id: i.itemId, payload: i.payload, publisher: i.publisher, publishedAt: i.publishedAt, seq: i.publishedSeq });

  return {
    async publish(owner, node, actor, itemId, payloadXml, opts) {
      const service = bareJid(owner);
      const invalid = checkNodeName(node) ?? (itemId === undefined ? undefined : checkItemId(itemId));
      if (invalid) return invalid;
      if (payloadXml.length === 0) return fail('payload-required');
      if (utf8Bytes(payloadXml) > maxPayloadBytes) return fail('payload-too-big', `payload exceeds ${maxPayloadBytes} bytes`);
      const publishOptions = opts.publishOptions;
      if (publishOptions) {
        const bad = validateConfig(publishOptions, maxItemsPerNode);
        if (bad) return fail(bad.error, bad.text);
      }
      // publish_model 'publishers': the owner is the only publisher of a PEP node (XEP-0163 §4)
      if (!isSameAccount(actor, service)) return fail('forbidden');
      const at = opts.at ?? now();

      return await write<PublishOutcome>(async (tx, retry) => {
        let stored = await tx.lockNode(service, node);
        let createdNode = false;
        if (!stored) {
          const config: NodeConfig = { ...DEFAULT_NODE_CONFIG, ...definedOnly(publishOptions ?? {}) };
          ({ node: stored, created: createdNode } = await tx.createNode(service, node, config, at));
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
        const event = config.persist_items
          ? (
              await tx.publishItem(
                { nodeId: stored.id, itemId: id, payload: payloadXml, publisher: actor, requestId: opts.requestId, at },
                effectiveMaxItems(config, maxItemsPerNode),
              )
            ).event
          : await tx.appendEvent({ nodeId: stored.id, kind: 'publish', itemId: id, payload: null, publisher: actor, requestId: opts.requestId, at });
        const effects: PubsubEffect[] = [];
        if (createdNode) effects.push({ type: 'node-created', service, node, config });
        effects.push({ type: 'published', service, node, config, seq: event.seq, itemId: id, payload: payloadXml, publisher: actor, at });
        return ok({ service, node, itemId: id, seq: event.seq, createdNode, replayed: false, effects });
      });
    },

    async getItems(owner, node, actor, opts = {}) {
      const service = bareJid(owner);
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
      const query: ListItemsQuery =
        itemIds !== undefined && itemIds.length > 0
          ? { itemIds }
          : maxItems !== undefined
            ? { newestFirst: true, limit: Math.min(maxItems, MAX_ITEMS_PER_REQUEST) }
            : {};
      // node and items at once (one round trip); the items of a denied read are dropped unseen
      const found = await storage.getNodeItems(service, node, query);
      if (!found) return fail('node-not-found');
      const denied = await mayRead(found.node, actor);
      if (denied) return denied;
      return ok({ service, node, config: found.node.config, items: found.items.map(toItem) });
    },

    async retract(owner, node, actor, itemId, opts) {
      const service = bareJid(owner);
      const invalid = checkNodeName(node) ?? checkItemId(itemId);
      if (invalid) return invalid;
      if (!isSameAccount(actor, service)) return fail('forbidden');
      const at = opts.at ?? now();

      return await write<RetractOutcome>(async (tx) => {
        const stored = await tx.lockNode(service, node);
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
  };
}
