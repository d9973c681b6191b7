import type { NodeConfig } from './config';
import {
  DuplicateRequestError,
  type ListItemsQuery,
  type NewNodeEvent,
  type NewPublishedItem,
  type PubsubReader,
  type PubsubStorage,
  type PubsubTransaction,
  type RecordedRequest,
  type StoredItem,
  type StoredNode,
  type StoredNodeEvent,
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
  nextNodeId: number;
  nextSeq: number;
}

const nodeKey = (service: string, node: string) => `${service}\u0000${node}`;

function copyState(s: State): State {
  return {
    nodes: new Map(s.nodes),
    nodesById: new Map(s.nodesById),
    events: s.events.slice(),
    requests: new Map(s.requests),
    items: new Map([...s.items].map(([k, m]) => [k, new Map(m)])),
    nextNodeId: s.nextNodeId,
    nextSeq: s.nextSeq,
  };
}

const cloneConfig = (c: NodeConfig): NodeConfig => ({ ...c });

function reader(get: () => State): PubsubReader {
  const r: PubsubReader = {
    async getNode(service, node) {
      const n = get().nodes.get(nodeKey(service, node));
      return n && { ...n, config: cloneConfig(n.config) };
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
  let state: State = { nodes: new Map(), nodesById: new Map(), events: [], requests: new Map(), items: new Map(), nextNodeId: 1, nextSeq: 1 };
  let queue: Promise<unknown> = Promise.resolve();

  function transaction(work: State): PubsubTransaction {
    const base = reader(() => work);
    const nodeById = (id: number) => {
      const n = work.nodesById.get(id);
      if (!n) throw new Error(`node ${id} does not exist`);
      return n;
    };
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
        return { node: { ...created, config: cloneConfig(config) }, created: true };
      },
      async appendEvent(event: NewNodeEvent) {
        nodeById(event.nodeId);
        if (event.requestId !== null && work.requests.has(event.requestId)) throw new DuplicateRequestError(event.requestId);
        const stored: StoredNodeEvent = { ...event, seq: work.nextSeq++ };
        work.events.push(stored);
        if (event.requestId !== null) work.requests.set(event.requestId, stored.seq);
        return { ...stored };
      },
      async publishItem(item: NewPublishedItem, keep: number) {
        if (!Number.isInteger(keep) || keep < 1) throw new RangeError('publishItem: keep must be a positive integer');
        const { nodeId, itemId, payload, publisher, requestId, at } = item;
        const event = await tx.appendEvent({ nodeId, kind: 'publish', itemId, payload, publisher, requestId, at });
        await tx.upsertItem({ nodeId, itemId, payload, publisher, publishedSeq: event.seq, publishedAt: at });
        return { event, trimmed: await tx.trimItems(nodeId, keep) };
      },
      async upsertItem(item) {
        nodeById(item.nodeId);
        work.items.get(item.nodeId)?.set(item.itemId, { ...item });
      },
      async deleteItem(nodeId, itemId) {
        return work.items.get(nodeId)?.delete(itemId) ?? false;
      },
      async trimItems(nodeId, keep) {
        const items = work.items.get(nodeId);
        if (!items || items.size <= keep) return [];
        const oldestFirst = [...items.values()].sort((a, b) => a.publishedSeq - b.publishedSeq);
        const removed = oldestFirst.slice(0, items.size - keep).map((i) => i.itemId);
        for (const id of removed) items.delete(id);
        return removed;
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
