import type { PubsubError } from './engine';
import type { OwnerUsage } from './storage';

/**
 * Per-user limits of the PEP service: how much one account may make the service store and send. The
 * engine calls one check per operation (after the storage applied the write inside the transaction, so
 * a refusal rolls it back); every refusal or truncation is reported through `onLimit` (metrics, logs).
 *
 * Conditions (XEP-0060, RFC 6120 §8.3.3), chosen per case:
 * - one item over the payload limit: `not-acceptable` + `<payload-too-big/>` (XEP-0060 §7.1.3.4);
 * - the account's stored bytes over its quota: `resource-constraint` (type `wait`, as RFC 6120 §8.3.3.18
 *   recommends; the publish can succeed once the user removed items);
 * - a new node beyond the account's node limit: `policy-violation` + `<max-nodes-exceeded/>` (a service
 *   policy, not a passing shortage);
 * - a subscription beyond the node's limit: `policy-violation` (type `wait`) + `<too-many-subscriptions/>`
 *   (XEP-0060 §6.1.3.9);
 * - affiliations beyond the node's limit: `policy-violation` (no pubsub-specific condition exists).
 * Items beyond a node's `max_items` are not refused: the oldest are dropped (XEP-0060 §7.1, `max_items`);
 * `max_items` itself is bounded by the engine's `maxItemsPerNode`, which is also what `max` means.
 */

export const LIMIT_NAMES = [
  'payload-bytes',
  'bytes-per-user',
  'nodes-per-user',
  'subscriptions-per-node',
  'affiliations-per-node',
  /** A retrieval answered with fewer items than the node holds (a page). */
  'items-page',
  /** A notification sent to fewer recipients than its audience (the notifier's cap). */
  'recipients-per-notification',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

export interface PubsubLimits {
  /** Largest item payload, UTF-8 bytes of its XML. */
  maxPayloadBytes: number;
  /** Live nodes one account may own. */
  maxNodesPerUser: number;
  /** UTF-8 bytes of the payloads of the current items of all of an account's nodes. */
  maxBytesPerUser: number;
  /** Explicit subscriptions on one node. */
  maxSubscriptionsPerNode: number;
  /** Affiliations the owner set on one node (members, publishers, outcasts). */
  maxAffiliationsPerNode: number;
  /** Items in one retrieval page (no `max_items`), and the bound of `max_items` and of an RSM `<max/>`. */
  itemsPageMax: number;
  /** Payload bytes of one retrieval page: a page stops before the item that would go past it (the first always comes). */
  itemsPageMaxBytes: number;
}

export const DEFAULT_PUBSUB_LIMITS: Readonly<PubsubLimits> = Object.freeze({
  maxPayloadBytes: 256 * 1024,
  maxNodesPerUser: 256,
  maxBytesPerUser: 16 * 1024 * 1024,
  maxSubscriptionsPerNode: 1000,
  maxAffiliationsPerNode: 1000,
  itemsPageMax: 1000,
  itemsPageMaxBytes: 192 * 1024,
});

export interface LimitHit {
  limit: LimitName;
  /** Owner bare JID. */
  service: string;
  node?: string | undefined;
  /** What the request would have reached (or the audience size, the node's item count). */
  value: number;
  max: number;
}

export type OnLimit = (hit: LimitHit) => void;

export interface LimitChecks {
  readonly limits: Readonly<PubsubLimits>;
  /** Before anything is written. */
  payload(service: string, node: string, bytes: number): PubsubError | undefined;
  /** After a node was created, with the usage that counts it. */
  nodeCreated(service: string, node: string, usage: OwnerUsage): PubsubError | undefined;
  /** After an item was stored; only a publish that grew the usage past the quota is refused. */
  itemStored(service: string, node: string, usage: OwnerUsage, bytesDelta: number): PubsubError | undefined;
  /** After subscriptions were added, with the node's count. */
  subscriptionsAdded(service: string, node: string, count: number): PubsubError | undefined;
  /** After affiliations were set, with the node's count. */
  affiliationsSet(service: string, node: string, count: number): PubsubError | undefined;
  /** The page size of a retrieval asking `requested` (undefined: the default). */
  pageSize(requested: number | undefined): number;
  /** Reports a retrieval that returned fewer items than the node holds. */
  pageTruncated(service: string, node: string, returned: number, total: number): void;
  /** Reports a truncation decided outside the engine (the notifier). */
  report(hit: LimitHit): void;
}

const positive = (name: string, v: number) => {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
};

export function createLimitChecks(partial: Partial<PubsubLimits> = {}, onLimit?: OnLimit): LimitChecks {
  const limits: PubsubLimits = { ...DEFAULT_PUBSUB_LIMITS };
  for (const [k, v] of Object.entries(partial) as Array<[keyof PubsubLimits, number | undefined]>) if (v !== undefined) limits[k] = positive(k, v);
  Object.freeze(limits);
  const report = (hit: LimitHit) => onLimit?.(hit);
  const refuse = (hit: LimitHit, error: PubsubError['error'], text: string): PubsubError => {
    report(hit);
    return { ok: false, error, text };
  };

  return {
    limits,
    payload(service, node, bytes) {
      if (bytes <= limits.maxPayloadBytes) return undefined;
      return refuse({ limit: 'payload-bytes', service, node, value: bytes, max: limits.maxPayloadBytes }, 'payload-too-big', `payload exceeds ${limits.maxPayloadBytes} bytes`);
    },
    nodeCreated(service, node, usage) {
      if (usage.nodes <= limits.maxNodesPerUser) return undefined;
      return refuse({ limit: 'nodes-per-user', service, node, value: usage.nodes, max: limits.maxNodesPerUser }, 'max-nodes-exceeded', `limit nodes-per-user: at most ${limits.maxNodesPerUser} nodes per account`);
    },
    itemStored(service, node, usage, bytesDelta) {
      if (bytesDelta <= 0 || usage.bytes <= limits.maxBytesPerUser) return undefined;
      return refuse(
        { limit: 'bytes-per-user', service, node, value: usage.bytes, max: limits.maxBytesPerUser },
        'quota-exceeded',
        `limit bytes-per-user: the items of an account may hold at most ${limits.maxBytesPerUser} bytes`,
      );
    },
    subscriptionsAdded(service, node, count) {
      if (count <= limits.maxSubscriptionsPerNode) return undefined;
      return refuse(
        { limit: 'subscriptions-per-node', service, node, value: count, max: limits.maxSubscriptionsPerNode },
        'too-many-subscriptions',
        `limit subscriptions-per-node: at most ${limits.maxSubscriptionsPerNode} subscriptions per node`,
      );
    },
    affiliationsSet(service, node, count) {
      if (count <= limits.maxAffiliationsPerNode) return undefined;
      return refuse(
        { limit: 'affiliations-per-node', service, node, value: count, max: limits.maxAffiliationsPerNode },
        'too-many-affiliations',
        `limit affiliations-per-node: at most ${limits.maxAffiliationsPerNode} affiliations per node`,
      );
    },
    pageSize: (requested) => (requested === undefined ? limits.itemsPageMax : Math.min(requested, limits.itemsPageMax)),
    pageTruncated(service, node, returned, total) {
      if (returned < total) report({ limit: 'items-page', service, node, value: total, max: returned });
    },
    report,
  };
}
