import type { SettableAffiliation } from './access';
import type { NodeConfig } from './config';
import { accountJid, normalizeJid } from '@dbroker/protocol';
import {
  DuplicateRequestError,
  type ItemsPageQuery,
  type ListItemsQuery,
  type NewNodeEvent,
  type OwnerUsage,
  type NewPublishedItem,
  type PubsubReader,
  type PubsubStorage,
  type PubsubTransaction,
  type RecordedRequest,
  type StoredItem,
  type StoredNode,
  type StoredNodeEvent,
  type StoredSubscription,
} from './storage';

/**
 * In-process `PubsubStorage`: the same contract as the Postgres one, kept in maps. Transactions run one
 * at a time on a copy of the state that replaces it on success (a throw discards it), so writers are
 * serialised and readers only ever see committed state. For tests, single-process setups and tools.
 */

interface State {
  nodes: Map<string, StoredNode>;
  nodesById: Map<number, StoredNode>;
  events: StoredNodeEvent[];
  requests: Map<string, number>;
  items: Map<number, Map<string, StoredItem>>;
  subscriptions: Map<number, Map<string, StoredSubscription>>;
  affiliations: Map<number, Map<string, SettableAffiliation>>;
  /** By service. */
  usage: Map<string, OwnerUsage>;
  nextNodeId: number;
  nextSeq: number;
}

const payloadBytes = (payload: string) => Buffer.byteLength(payload, 'utf8');

const nodeKey = (service: string, node: string) => `${service}\u0000${node}`;

function copyState(s: State): State {
  return {
    nodes: new Map(s.nodes),
    nodesById: new Map(s.nodesById),
    events: s.events.slice(),
    requests: new Map(s.requests),
    items: new Map([...s.items].map(([k, m]) => [k, new Map(m)])),
    subscriptions: new Map([...s.subscriptions].map(([k, m]) => [k, new Map(m)])),
    affiliations: new Map([...s.affiliations].map(([k, m]) => [k, new Map(m)])),
    usage: new Map([...s.usage].map(([k, u]) => [k, { ...u }])),
    nextNodeId: s.nextNodeId,
    nextSeq: s.nextSeq,
  };
}

const cloneConfig = (c: NodeConfig): NodeConfig => ({ ...c, roster_groups_allowed: [...c.roster_groups_allowed] });
const ofAccount = (jid: string, bare: string) => accountJid(jid) === accountJid(bare);
/** JIDs reach the storage normalised (the engine's job); folded again here so no caller can store another form. */
const jidKey = (jid: string) => normalizeJid(jid) ?? jid;
const byJid = <T extends { jid: string }>(a: T, b: T) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0);

function reader(get: () => State): PubsubReader {
  const r: PubsubReader = {
    async getNode(service, node) {
      const n = get().nodes.get(nodeKey(service, node));
      return n && { ...n, config: cloneConfig(n.config) };
    },
    async listNodes(service) {
      return [...get().nodes.values()]
        .filter((n) => n.service === service)
        .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
        .map((n) => ({ ...n, config: cloneConfig(n.config) }));
    },
    async listSubscriptions(nodeId) {
      return [...(get().subscriptions.get(nodeId)?.values() ?? [])].sort(byJid).map((x) => ({ ...x }));
    },
    async listSubscriptionsOf(service, bare) {
      const nodes = await r.listNodes(service);
      return nodes.flatMap((n) =>
        [...(get().subscriptions.get(n.id)?.values() ?? [])]
          .filter((x) => ofAccount(x.jid, bare))
          .sort(byJid)
          .map((x) => ({ ...x, node: n.node })),
      );
    },
    async listAffiliations(nodeId) {
      return [...(get().affiliations.get(nodeId) ?? new Map<string, SettableAffiliation>())].map(([jid, affiliation]) => ({ jid, affiliation })).sort(byJid);
    },
    async listNodeMembers(service, node) {
      const n = await r.getNode(service, node);
      if (!n) return undefined;
      return { subscriptions: await r.listSubscriptions(n.id), affiliations: await r.listAffiliations(n.id) };
    },
    async listAffiliationsOf(service, bare) {
      const nodes = await r.listNodes(service);
      return nodes.flatMap((n) => {
        const a = get().affiliations.get(n.id)?.get(jidKey(bare));
        return a ? [{ node: n.node, affiliation: a }] : [];
      });
    },
    async getAffiliation(service, node, jid) {
      const n = get().nodes.get(nodeKey(service, node));
      return (n && get().affiliations.get(n.id)?.get(jidKey(jid))) ?? 'none';
    },
    async getNodeItems(service, node, query) {
      const n = await r.getNode(service, node);
      return n && { node: n, items: await r.listItems(n.id, query) };
    },
    async listItems(nodeId, query: ListItemsQuery = {}) {
      const items = get().items.get(nodeId) ?? new Map<string, StoredItem>();
      let rows: StoredItem[];
      if (query.itemIds) {
        rows = [];
        for (const id of new Set(query.itemIds)) {
          const item = items.get(id);
          if (item) rows.push(item);
        }
      } else {
        rows = [...items.values()].sort((a, b) => (query.newestFirst ? b.publishedSeq - a.publishedSeq : a.publishedSeq - b.publishedSeq));
      }
      if (query.limit !== undefined) rows = rows.slice(0, query.limit);
      return rows.map((r) => ({ ...r }));
    },
    async getNodeItemsPage(service, node, query: ItemsPageQuery) {
      const n = await r.getNode(service, node);
      if (!n) return undefined;
      if (query.newestFirst && query.afterItemId !== undefined) throw new RangeError('getNodeItemsPage: a cursor pages oldest first only');
      const all = await r.listItems(n.id, { newestFirst: query.newestFirst });
      const cursor = query.afterItemId === undefined ? -1 : all.findIndex((i) => i.itemId === query.afterItemId);
      const rest = all.slice(cursor + 1);
      const items: StoredItem[] = [];
      let bytes = 0;
      for (const item of rest) {
        if (items.length >= query.max || (items.length > 0 && bytes >= query.maxBytes)) break;
        // the same rule as the SQL: an item comes when the bytes before it are under the budget
        items.push(item);
        bytes += payloadBytes(item.payload);
      }
      return { node: n, items, total: all.length, firstIndex: cursor + 1, cursorFound: query.afterItemId === undefined || cursor >= 0 };
    },
    async ownerUsage(service) {
      return { ...(get().usage.get(service) ?? { nodes: 0, bytes: 0 }) };
    },
    async countMembers(nodeId) {
      return { subscriptions: get().subscriptions.get(nodeId)?.size ?? 0, affiliations: get().affiliations.get(nodeId)?.size ?? 0 };
    },
    async findRequest(requestId): Promise<RecordedRequest | undefined> {
      const s = get();
      const seq = s.requests.get(requestId);
      if (seq === undefined) return undefined;
      const event = s.events.find((e) => e.seq === seq);
      const node = event && s.nodesById.get(event.nodeId);
      if (!event || !node) return undefined;
      return { event: { ...event }, service: node.service, node: node.node };
    },
  };
  return r;
}

export interface MemoryPubsubStorage extends PubsubStorage {
  /** The whole event log, oldest first (for tests and tools). */
  events(): StoredNodeEvent[];
}

export function createMemoryPubsubStorage(): MemoryPubsubStorage {
  let state: State = {
    nodes: new Map(),
    nodesById: new Map(),
    events: [],
    requests: new Map(),
    items: new Map(),
    subscriptions: new Map(),
    affiliations: new Map(),
    usage: new Map(),
    nextNodeId: 1,
    nextSeq: 1,
  };
  let queue: Promise<unknown> = Promise.resolve();

  function transaction(work: State): PubsubTransaction {
    const base = reader(() => work);
    const nodeById = (id: number) => {
      const n = work.nodesById.get(id);
      if (!n) throw new Error(`node ${id} does not exist`);
      return n;
    };
    const adjustUsage = (nodeId: number, bytes: number, nodes = 0): OwnerUsage => {
      const service = nodeById(nodeId).service;
      const u = work.usage.get(service) ?? { nodes: 0, bytes: 0 };
      const next = { nodes: u.nodes + nodes, bytes: u.bytes + bytes };
      work.usage.set(service, next);
      return { ...next };
    };
    const bytesOf = (nodeId: number, ids: readonly string[]) => ids.reduce((sum, id) => sum + payloadBytes(work.items.get(nodeId)?.get(id)?.payload ?? ''), 0);
    const tx: PubsubTransaction = {
      ...base,
      lockNode: (service, node) => base.getNode(service, node),
      async createNode(service, node, config, at) {
        const existing = work.nodes.get(nodeKey(service, node));
        if (existing) return { node: { ...existing, config: cloneConfig(existing.config) }, created: false };
        const created: StoredNode = { id: work.nextNodeId++, service, node, config: cloneConfig(config), createdAt: at };
        work.nodes.set(nodeKey(service, node), created);
        work.nodesById.set(created.id, created);
        work.items.set(created.id, new Map());
        work.subscriptions.set(created.id, new Map());
        work.affiliations.set(created.id, new Map());
        const usage = adjustUsage(created.id, 0, 1);
        return { node: { ...created, config: cloneConfig(config) }, created: true, usage };
      },
      async appendEvent(event: NewNodeEvent) {
        nodeById(event.nodeId);
        if (event.requestId !== null && work.requests.has(event.requestId)) throw new DuplicateRequestError(event.requestId);
        const stored: StoredNodeEvent = { ...event, publisher: event.publisher === null ? null : jidKey(event.publisher), seq: work.nextSeq++ };
        work.events.push(stored);
        if (event.requestId !== null) work.requests.set(event.requestId, stored.seq);
        return { ...stored };
      },
      async publishItem(item: NewPublishedItem, keep: number) {
        if (!Number.isInteger(keep) || keep < 1) throw new RangeError('publishItem: keep must be a positive integer');
        const { nodeId, itemId, payload, requestId, at } = item;
        const event = await tx.appendEvent({ nodeId, kind: 'publish', itemId, payload, publisher: item.publisher, requestId, at });
        const before = adjustUsage(nodeId, 0).bytes;
        await tx.upsertItem({ nodeId, itemId, payload, publisher: event.publisher, publishedSeq: event.seq, publishedAt: at });
        const trimmed = await tx.trimItems(nodeId, keep);
        const usage = adjustUsage(nodeId, 0);
        return { event, trimmed, usage, bytesDelta: usage.bytes - before };
      },
      async upsertItem(item) {
        nodeById(item.nodeId);
        adjustUsage(item.nodeId, payloadBytes(item.payload) - bytesOf(item.nodeId, [item.itemId]));
        work.items.get(item.nodeId)?.set(item.itemId, { ...item });
      },
      async deleteItem(nodeId, itemId) {
        if (!work.items.get(nodeId)?.has(itemId)) return false;
        adjustUsage(nodeId, -bytesOf(nodeId, [itemId]));
        return work.items.get(nodeId)?.delete(itemId) ?? false;
      },
      async trimItems(nodeId, keep) {
        const items = work.items.get(nodeId);
        if (!items || items.size <= keep) return [];
        const oldestFirst = [...items.values()].sort((a, b) => a.publishedSeq - b.publishedSeq);
        const removed = oldestFirst.slice(0, items.size - keep).map((i) => i.itemId);
        adjustUsage(nodeId, -bytesOf(nodeId, removed));
        for (const id of removed) items.delete(id);
        return removed;
      },
      async updateConfig(nodeId, config) {
        const n = nodeById(nodeId);
        const updated = { ...n, config: cloneConfig(config) };
        work.nodesById.set(nodeId, updated);
        work.nodes.set(nodeKey(n.service, n.node), updated);
      },
      async purgeItems(nodeId) {
        const items = work.items.get(nodeId);
        const removed = [...(items?.keys() ?? [])];
        adjustUsage(nodeId, -bytesOf(nodeId, removed));
        items?.clear();
        return removed;
      },
      async markNodeDeleted(nodeId) {
        const n = nodeById(nodeId);
        if (work.nodes.get(nodeKey(n.service, n.node))?.id === nodeId) {
          adjustUsage(nodeId, -bytesOf(nodeId, [...(work.items.get(nodeId)?.keys() ?? [])]), -1);
          work.nodes.delete(nodeKey(n.service, n.node));
        }
        work.items.set(nodeId, new Map());
        work.subscriptions.set(nodeId, new Map());
        work.affiliations.set(nodeId, new Map());
      },
      async erasePayloads(nodeId, itemId) {
        let n = 0;
        work.events = work.events.map((e) => {
          if (e.nodeId !== nodeId || e.kind !== 'publish' || e.payload === null || (itemId !== undefined && e.itemId !== itemId)) return e;
          n++;
          return { ...e, payload: null };
        });
        return n;
      },
      async setAffiliation(nodeId, asked, affiliation) {
        nodeById(nodeId);
        const jid = jidKey(asked);
        const m = work.affiliations.get(nodeId) ?? new Map<string, SettableAffiliation>();
        work.affiliations.set(nodeId, m);
        if (affiliation === 'none') m.delete(jid);
        else m.set(jid, affiliation);
      },
      async addSubscription(nodeId, asked, subid, at) {
        nodeById(nodeId);
        const jid = jidKey(asked);
        const m = work.subscriptions.get(nodeId) ?? new Map<string, StoredSubscription>();
        work.subscriptions.set(nodeId, m);
        const existing = m.get(jid);
        if (existing) return { subscription: { ...existing }, created: false };
        const created: StoredSubscription = { nodeId, jid, subid, state: 'subscribed', createdAt: at };
        m.set(jid, created);
        return { subscription: { ...created }, created: true };
      },
      async removeSubscription(nodeId, asked) {
        const m = work.subscriptions.get(nodeId);
        const jid = jidKey(asked);
        const existing = m?.get(jid);
        if (!existing) return undefined;
        m?.delete(jid);
        return { ...existing };
      },
      async removeSubscriptionsOf(nodeId, bare) {
        const m = work.subscriptions.get(nodeId);
        if (!m) return [];
        const removed = [...m.values()].filter((x) => ofAccount(x.jid, bare)).sort(byJid);
        for (const x of removed) m.delete(x.jid);
        return removed.map((x) => ({ ...x }));
      },
    };
    return tx;
  }

  return {
    ...reader(() => state),
    withTransaction<T>(fn: (tx: PubsubTransaction) => Promise<T>): Promise<T> {
      const run = queue.then(async () => {
        const work = copyState(state);
        const result = await fn(transaction(work));
        state = work;
        return result;
      });
      queue = run.catch(() => undefined);
      return run;
    },
    events: () => state.events.map((e) => ({ ...e })),
  };
}
