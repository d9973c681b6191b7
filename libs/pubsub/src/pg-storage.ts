import { rawDbOf, type Database, type RawDb, type RawExecutor, type RawQuery } from '@dbroker/store';
import { normalizeJid } from '@dbroker/protocol';
import { normaliseConfig } from './config';
import {
  DuplicateRequestError,
  type ItemsPageQuery,
  type ListItemsQuery,
  type NewNodeEvent,
  type NewPublishedItem,
  type NodeEventKind,
  type OwnerUsage,
  type PubsubReader,
  type PubsubStorage,
  type PubsubTransaction,
  type StoredItem,
  type StoredNode,
  type StoredNodeEvent,
  type StoredSubscription,
} from './storage';
import type { Affiliation, SettableAffiliation } from './access';

/**
 * `PubsubStorage` on Postgres (node-postgres pool or PGlite), tables in `@dbroker/store`
 * (`pubsub_nodes`, `pubsub_node_events`, `pubsub_items`; the schema there is the reference).
 *
 * The PEP worker's hot path: raw parametrised SQL as named prepared statements (parsed once per pooled
 * connection), no query builder. Round trips: a publish to an existing node is BEGIN, `lockNode`,
 * `publishItem` (event, item and trim in one statement), COMMIT; a new node adds `createNode`. A
 * retrieval is one statement (`getNodeItems`).
 *
 * Concurrency: every write transaction first takes its node row `FOR UPDATE` (`lockNode`), or creates
 * it with `ON CONFLICT DO NOTHING` and then takes it (`createNode`), so writers of one node run one after
 * the other on any number of replicas, and a retry's `findRequest` after the lock sees the committed
 * outcome of the first attempt. The partial unique index on `request_id` backs that up: a duplicate
 * becomes `DuplicateRequestError`.
 */

const REQUEST_ID_INDEX = 'pubsub_node_events_request_id_key';

// ---- rows as the drivers return them (int8: string with node-postgres, number with PGlite) -----------

type Int8 = string | number;

interface NodeRow {
  id: Int8;
  service: string;
  node: string;
  config: Record<string, unknown>;
  created_at: Date;
}

interface SubscriptionRow {
  node_id: Int8;
  jid: string;
  subid: string;
  state: string;
  created_at: Date;
}

interface ItemRow {
  item_id: string;
  payload: string;
  publisher: string | null;
  published_seq: Int8;
  published_at: Date;
}

interface EventRow {
  seq: Int8;
  node_id: Int8;
  kind: NodeEventKind;
  item_id: string | null;
  payload: string | null;
  publisher: string | null;
  request_id: string | null;
  at: Date;
}

/** A node row and the item rows of one retrieval, told apart by `k` (0: the node, 1: an item). */
type NodeItemsRow = { k: number } & { [K in keyof NodeRow]: NodeRow[K] | null } & { [K in keyof ItemRow]: ItemRow[K] | null };

const toNode = (r: NodeRow): StoredNode => ({ id: Number(r.id), service: r.service, node: r.node, config: normaliseConfig(r.config), createdAt: r.created_at });

const toSubscription = (r: SubscriptionRow): StoredSubscription => ({ nodeId: Number(r.node_id), jid: r.jid, subid: r.subid, state: 'subscribed', createdAt: r.created_at });

const toItem = (nodeId: number, r: ItemRow): StoredItem => ({
  nodeId,
  itemId: r.item_id,
  payload: r.payload,
  publisher: r.publisher,
  publishedSeq: Number(r.published_seq),
  publishedAt: r.published_at,
});

const toEvent = (r: EventRow): StoredNodeEvent => ({
  seq: Number(r.seq),
  nodeId: Number(r.node_id),
  kind: r.kind,
  itemId: r.item_id,
  payload: r.payload,
  publisher: r.publisher,
  requestId: r.request_id,
  at: r.at,
});

/** The unique violation of the request id index, wrapped (`cause`) or not. */
function isDuplicateRequest(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const pgErr = e as { code?: unknown; constraint?: unknown; message?: unknown };
    if (pgErr.code === '23505' && (pgErr.constraint === REQUEST_ID_INDEX || String(pgErr.message).includes(REQUEST_ID_INDEX))) return true;
  }
  return false;
}

/** Items by id: those that exist, each once, in the order asked, then `limit`. */
function inAskedOrder(items: StoredItem[], itemIds: readonly string[], limit: number | undefined): StoredItem[] {
  const byId = new Map(items.map((i) => [i.itemId, i]));
  const ordered = [...new Set(itemIds)].flatMap((id) => byId.get(id) ?? []);
  return limit === undefined ? ordered : ordered.slice(0, limit);
}

// ---- statements (names are per process and must stay unique to their text) ----------------------------

const NODE_COLUMNS = 'id, service, node, config, created_at';
const ITEM_COLUMNS = 'item_id, payload, publisher, published_seq, published_at';
const EVENT_COLUMNS = 'seq, node_id, kind, item_id, payload, publisher, request_id, at';
const SUB_COLUMNS = 'node_id, jid, subid, state, created_at';
/** Not a deleted node's tombstone. */
const LIVE = 'deleted_at is null';
const UPSERT_SET = 'payload = excluded.payload, publisher = excluded.publisher, published_seq = excluded.published_seq, published_at = excluded.published_at';
/**
 * Owner usage (`pubsub_owner_usage`) is adjusted by the statement that changes it, as a CTE `u`: the row
 * of the service of node $1 loses `bytes` (an expression over the CTE `d` of removed items, each with
 * its `b` = `octet_length(payload)`) and `nodes`. No row is locked when nothing was removed.
 */
const USAGE_DOWN = (nodes = '0') =>
  `u as (update pubsub_owner_usage set bytes = bytes - (select coalesce(sum(b), 0) from d), nodes = nodes - ${nodes} ` +
  `where service = (select service from pubsub_nodes where id = $1) and exists (select 1 from d))`;

const SQL = {
  getNode: { name: 'dbroker_pubsub_get_live_node', text: `select ${NODE_COLUMNS} from pubsub_nodes where service = $1 and node = $2 and ${LIVE}` },
  lockNode: { name: 'dbroker_pubsub_lock_live_node', text: `select ${NODE_COLUMNS} from pubsub_nodes where service = $1 and node = $2 and ${LIVE} for update` },
  /** The node and, when it is new, the owner's usage counting it. */
  createNode: {
    name: 'dbroker_pubsub_create_live_node_counted',
    text:
      `with n as (insert into pubsub_nodes (service, node, config, created_at) values ($1, $2, $3::text::jsonb, $4) ` +
      `on conflict (service, node) where ${LIVE} do nothing returning ${NODE_COLUMNS}), ` +
      `u as (insert into pubsub_owner_usage as o (service, nodes, bytes) select $1, 1, 0 from n ` +
      `on conflict (service) do update set nodes = o.nodes + 1 returning o.nodes, o.bytes) ` +
      `select n.*, u.nodes as usage_nodes, u.bytes as usage_bytes from n, u`,
  },
  ownerUsage: { name: 'dbroker_pubsub_owner_usage', text: `select nodes, bytes from pubsub_owner_usage where service = $1` },
  countMembers: {
    name: 'dbroker_pubsub_count_members',
    text: `select (select count(*) from pubsub_subscriptions where node_id = $1) as subscriptions, (select count(*) from pubsub_affiliations where node_id = $1) as affiliations`,
  },
  // collate "C": code point order, as the memory storage sorts
  listNodes: { name: 'dbroker_pubsub_list_nodes', text: `select ${NODE_COLUMNS} from pubsub_nodes where service = $1 and ${LIVE} order by node collate "C"` },
  listSubscriptions: {
    name: 'dbroker_pubsub_list_subscriptions',
    text: `select ${SUB_COLUMNS} from pubsub_subscriptions where node_id = $1 order by jid collate "C"`,
  },
  listSubscriptionsOf: {
    name: 'dbroker_pubsub_list_subscriptions_of',
    text:
      `select s.node_id, s.jid, s.subid, s.state, s.created_at, n.node from pubsub_subscriptions s join pubsub_nodes n on n.id = s.node_id ` +
      `where n.service = $1 and n.${LIVE} and (s.jid = $2 or starts_with(s.jid, $2 || '/')) order by n.node collate "C", s.jid collate "C"`,
  },
  listAffiliations: {
    name: 'dbroker_pubsub_list_affiliations',
    text: `select jid, affiliation from pubsub_affiliations where node_id = $1 order by jid collate "C"`,
  },
  listNodeMembers: {
    name: 'dbroker_pubsub_list_node_members',
    text:
      `select n.id, ` +
      `coalesce((select json_agg(json_build_object('jid', s.jid, 'subid', s.subid, 'created_at', s.created_at) order by s.jid collate "C") from pubsub_subscriptions s where s.node_id = n.id), '[]') as subscriptions, ` +
      `coalesce((select json_agg(json_build_object('jid', a.jid, 'affiliation', a.affiliation) order by a.jid collate "C") from pubsub_affiliations a where a.node_id = n.id), '[]') as affiliations ` +
      `from pubsub_nodes n where n.service = $1 and n.node = $2 and n.${LIVE}`,
  },
  listAffiliationsOf: {
    name: 'dbroker_pubsub_list_affiliations_of',
    text:
      `select n.node, a.affiliation from pubsub_affiliations a join pubsub_nodes n on n.id = a.node_id ` +
      `where n.service = $1 and n.${LIVE} and a.jid = $2 order by n.node collate "C"`,
  },
  getAffiliation: {
    name: 'dbroker_pubsub_get_affiliation',
    text:
      `select a.affiliation from pubsub_affiliations a join pubsub_nodes n on n.id = a.node_id ` +
      `where n.service = $1 and n.node = $2 and n.${LIVE} and a.jid = $3`,
  },
  updateConfig: { name: 'dbroker_pubsub_update_config', text: `update pubsub_nodes set config = $2::text::jsonb where id = $1` },
  purgeItems: {
    name: 'dbroker_pubsub_purge_items_counted',
    text: `with d as (delete from pubsub_items where node_id = $1 returning item_id, octet_length(payload) as b), ${USAGE_DOWN()} select item_id from d`,
  },
  // a live node counts once: only its first deletion lowers `nodes`
  markNodeDeleted: {
    name: 'dbroker_pubsub_mark_node_deleted_counted',
    text:
      `with d as (delete from pubsub_items where node_id = $1 returning octet_length(payload) as b), s as (delete from pubsub_subscriptions where node_id = $1), ` +
      `a as (delete from pubsub_affiliations where node_id = $1), ` +
      `u as (update pubsub_owner_usage set bytes = bytes - (select coalesce(sum(b), 0) from d), nodes = nodes - 1 ` +
      `where service = (select service from pubsub_nodes where id = $1 and ${LIVE})) ` +
      `update pubsub_nodes set deleted_at = $2 where id = $1`,
  },
  // `payload is not null`: the partial index pubsub_node_events_item_payload_idx holds exactly these rows
  erasePayloadsOfItem: {
    name: 'dbroker_pubsub_erase_payloads_of_item',
    text: `update pubsub_node_events set payload = null where node_id = $1 and item_id = $2 and payload is not null and kind = 'publish' returning 1`,
  },
  erasePayloads: {
    name: 'dbroker_pubsub_erase_payloads',
    text: `update pubsub_node_events set payload = null where node_id = $1 and item_id is not null and payload is not null and kind = 'publish' returning 1`,
  },
  setAffiliation: {
    name: 'dbroker_pubsub_set_affiliation',
    text:
      `insert into pubsub_affiliations (node_id, jid, affiliation, updated_at) values ($1, $2, $3, $4) ` +
      `on conflict (node_id, jid) do update set affiliation = excluded.affiliation, updated_at = excluded.updated_at`,
  },
  removeAffiliation: { name: 'dbroker_pubsub_remove_affiliation', text: `delete from pubsub_affiliations where node_id = $1 and jid = $2` },
  /** The new subscription (created = true), or the one in force (the node lock keeps it from changing meanwhile). */
  addSubscription: {
    name: 'dbroker_pubsub_add_subscription',
    text:
      `with ins as (insert into pubsub_subscriptions (node_id, jid, subid, state, created_at) values ($1, $2, $3, 'subscribed', $4) ` +
      `on conflict (node_id, jid) do nothing returning ${SUB_COLUMNS}) ` +
      `select ${SUB_COLUMNS}, true as created from ins union all ` +
      `select ${SUB_COLUMNS}, false from pubsub_subscriptions where node_id = $1 and jid = $2 and not exists (select 1 from ins)`,
  },
  removeSubscription: {
    name: 'dbroker_pubsub_remove_subscription',
    text: `delete from pubsub_subscriptions where node_id = $1 and jid = $2 returning ${SUB_COLUMNS}`,
  },
  removeSubscriptionsOf: {
    name: 'dbroker_pubsub_remove_subscriptions_of',
    text: `delete from pubsub_subscriptions where node_id = $1 and (jid = $2 or starts_with(jid, $2 || '/')) returning ${SUB_COLUMNS}`,
  },
  itemsByIds: { name: 'dbroker_pubsub_items_by_ids', text: `select ${ITEM_COLUMNS} from pubsub_items where node_id = $1 and item_id = any($2::text[])` },
  // `limit null` is no limit
  itemsOldestFirst: { name: 'dbroker_pubsub_items_asc', text: `select ${ITEM_COLUMNS} from pubsub_items where node_id = $1 order by published_seq asc limit $2` },
  itemsNewestFirst: { name: 'dbroker_pubsub_items_desc', text: `select ${ITEM_COLUMNS} from pubsub_items where node_id = $1 order by published_seq desc limit $2` },
  findRequest: {
    name: 'dbroker_pubsub_find_request',
    text:
      `select e.seq, e.node_id, e.kind, e.item_id, e.payload, e.publisher, e.request_id, e.at, n.service as node_service, n.node as node_name ` +
      `from pubsub_node_events e join pubsub_nodes n on n.id = e.node_id where e.request_id = $1 limit 1`,
  },
  appendEvent: {
    name: 'dbroker_pubsub_append_event',
    text: `insert into pubsub_node_events (node_id, kind, item_id, payload, publisher, request_id, at) values ($1, $2, $3, $4, $5, $6, $7) returning seq`,
  },
  upsertItem: {
    name: 'dbroker_pubsub_upsert_item_counted',
    text:
      `with old as (select octet_length(payload) as b from pubsub_items where node_id = $1 and item_id = $2), ` +
      `up as (insert into pubsub_items (node_id, ${ITEM_COLUMNS}) values ($1, $2, $3, $4, $5, $6) on conflict (node_id, item_id) do update set ${UPSERT_SET}) ` +
      `insert into pubsub_owner_usage as o (service, nodes, bytes) select service, 0, octet_length($3::text) - coalesce((select b from old), 0) from pubsub_nodes where id = $1 ` +
      `on conflict (service) do update set bytes = o.bytes + excluded.bytes`,
  },
  deleteItem: {
    name: 'dbroker_pubsub_delete_item_counted',
    text: `with d as (delete from pubsub_items where node_id = $1 and item_id = $2 returning item_id, octet_length(payload) as b), ${USAGE_DOWN()} select item_id from d`,
  },
  trimItems: {
    name: 'dbroker_pubsub_trim_items_counted',
    text:
      `with d as (delete from pubsub_items where node_id = $1 and item_id in ` +
      `(select item_id from pubsub_items where node_id = $1 order by published_seq desc offset $2) returning item_id, octet_length(payload) as b), ` +
      `${USAGE_DOWN()} select item_id from d`,
  },
  /**
   * `publishItem`: the event, the item (upserted with the event's seq), the trim and the owner's usage in
   * one statement. The sub-statements share one snapshot, so the trim cannot see the new version of the
   * item: it keeps the newest `keep - 1` of the others ($7), which is what trimming after the upsert keeps,
   * the new version being the newest (its seq is above every seq already in the node, whose writers held
   * the node lock). For the same reason `old` is the version the upsert replaces. Usage changes by the new
   * payload's bytes less the replaced and the trimmed ones.
   */
  publishItem: {
    name: 'dbroker_pubsub_publish_item_counted',
    text:
      `with old as (select octet_length(payload) as b from pubsub_items where node_id = $1 and item_id = $2), ` +
      `ev as (insert into pubsub_node_events (node_id, kind, item_id, payload, publisher, request_id, at) ` +
      `values ($1, 'publish', $2, $3, $4, $5, $6) returning seq), ` +
      `up as (insert into pubsub_items (node_id, ${ITEM_COLUMNS}) select $1, $2, $3, $4, ev.seq, $6 from ev ` +
      `on conflict (node_id, item_id) do update set ${UPSERT_SET}), ` +
      `trimmed as (delete from pubsub_items where node_id = $1 and item_id <> $2 and item_id in ` +
      `(select item_id from pubsub_items where node_id = $1 and item_id <> $2 order by published_seq desc offset $7) returning item_id, octet_length(payload) as b), ` +
      `delta as (select octet_length($3::text) - coalesce((select b from old), 0) - coalesce((select sum(b) from trimmed), 0) as d), ` +
      `u as (insert into pubsub_owner_usage as o (service, nodes, bytes) select n.service, 0, (select d from delta) from pubsub_nodes n where n.id = $1 ` +
      `on conflict (service) do update set bytes = o.bytes + excluded.bytes returning o.nodes, o.bytes) ` +
      `select ev.seq, array(select item_id from trimmed) as trimmed, u.nodes as usage_nodes, u.bytes as usage_bytes, (select d from delta) as bytes_delta from ev, u`,
  },
} as const satisfies Record<string, RawQuery>;

/**
 * `getNodeItems`: the node row (k = 0), then its items (k = 1), one snapshot, one round trip. $3 is the
 * limit (null: all) or the item ids.
 */
function nodeItemsQuery(name: string, itemsWhere: string, orderLimit: string): RawQuery {
  return {
    name,
    text:
      `select 0 as k, ${NODE_COLUMNS}, null::text as item_id, null::text as payload, null::text as publisher, ` +
      `null::bigint as published_seq, null::timestamptz as published_at from pubsub_nodes where service = $1 and node = $2 and ${LIVE} ` +
      `union all (select 1, null, null, null, null, null, ${ITEM_COLUMNS} from pubsub_items ` +
      `where node_id = (select id from pubsub_nodes where service = $1 and node = $2 and ${LIVE})${itemsWhere}${orderLimit})`,
  };
}

/**
 * `getNodeItemsPage`: the node row (k = 0, with the item count, the cursor's position and whether it was
 * found), then the page (k = 1), one snapshot, one round trip. $3 the cursor item id (null: from the
 * oldest), $4 the most items, $5 the byte budget: an item comes when the payloads before it in the page
 * are under the budget (the first always comes). `octet_length` reads the stored size, not the value.
 */
const nodeItemsPage = (order: 'asc' | 'desc'): RawQuery => ({
  name: `dbroker_pubsub_live_node_items_page_${order}`,
  text:
    `with n as (select ${NODE_COLUMNS} from pubsub_nodes where service = $1 and node = $2 and ${LIVE}), ` +
    `c as (select published_seq from pubsub_items where node_id = (select id from n) and item_id = $3::text), ` +
    `w as (select ${ITEM_COLUMNS}, row_number() over o as rn, sum(octet_length(payload)) over o - octet_length(payload) as before_bytes ` +
    `from pubsub_items where node_id = (select id from n) and ($3::text is null or published_seq > (select published_seq from c)) window o as (order by published_seq ${order})) ` +
    `select 0 as k, ${NODE_COLUMNS}, null::text as item_id, null::text as payload, null::text as publisher, null::bigint as published_seq, null::timestamptz as published_at, ` +
    `(select count(*) from pubsub_items where node_id = n.id) as total, ` +
    `(select count(*) from pubsub_items where node_id = n.id and published_seq <= coalesce((select published_seq from c), 0)) as first_index, ` +
    `($3::text is null or exists (select 1 from c)) as cursor_found from n ` +
    `union all (select 1, null, null, null, null, null, ${ITEM_COLUMNS}, null, null, null from w where rn <= $4 and (rn = 1 or before_bytes < $5))`,
});
const NODE_ITEMS_PAGE = { asc: nodeItemsPage('asc'), desc: nodeItemsPage('desc') };

const NODE_ITEMS = {
  byIds: nodeItemsQuery('dbroker_pubsub_live_node_items_by_ids', ' and item_id = any($3::text[])', ''),
  oldestFirst: nodeItemsQuery('dbroker_pubsub_live_node_items_asc', '', ' order by published_seq asc limit $3'),
  newestFirst: nodeItemsQuery('dbroker_pubsub_live_node_items_desc', '', ' order by published_seq desc limit $3'),
};

/** JIDs reach the storage normalised (the engine's job); folded again here so no caller can store another form. */
const jidKey = (jid: string) => normalizeJid(jid) ?? jid;

const run = <T>(db: RawExecutor, q: RawQuery, values: readonly unknown[]) => db.query<T>({ name: q.name, text: q.text, values });

function reader(db: RawExecutor): PubsubReader {
  const getNode = async (service: string, node: string) => {
    const rows = await run<NodeRow>(db, SQL.getNode, [service, node]);
    return rows[0] && toNode(rows[0]);
  };
  return {
    getNode,

    async listItems(nodeId, query: ListItemsQuery = {}) {
      if (query.itemIds) {
        if (query.itemIds.length === 0) return [];
        const rows = await run<ItemRow>(db, SQL.itemsByIds, [nodeId, [...query.itemIds]]);
        return inAskedOrder(
          rows.map((r) => toItem(nodeId, r)),
          query.itemIds,
          query.limit,
        );
      }
      const rows = await run<ItemRow>(db, query.newestFirst ? SQL.itemsNewestFirst : SQL.itemsOldestFirst, [nodeId, query.limit ?? null]);
      return rows.map((r) => toItem(nodeId, r));
    },

    async getNodeItems(service, node, query: ListItemsQuery = {}) {
      if (query.itemIds?.length === 0) {
        const stored = await getNode(service, node);
        return stored && { node: stored, items: [] };
      }
      const rows = query.itemIds
        ? await run<NodeItemsRow>(db, NODE_ITEMS.byIds, [service, node, [...query.itemIds]])
        : await run<NodeItemsRow>(db, query.newestFirst ? NODE_ITEMS.newestFirst : NODE_ITEMS.oldestFirst, [service, node, query.limit ?? null]);
      const nodeRow = rows.find((r) => Number(r.k) === 0);
      if (!nodeRow) return undefined;
      const stored = toNode(nodeRow as NodeRow);
      const items = rows.filter((r) => Number(r.k) !== 0).map((r) => toItem(stored.id, r as ItemRow));
      if (query.itemIds) return { node: stored, items: inAskedOrder(items, query.itemIds, query.limit) };
      // a union's rows come in branch order, but nothing promises it: sort (seqs are unique)
      items.sort(query.newestFirst ? (a, b) => b.publishedSeq - a.publishedSeq : (a, b) => a.publishedSeq - b.publishedSeq);
      return { node: stored, items };
    },

    async getNodeItemsPage(service, node, query: ItemsPageQuery) {
      type Row = NodeItemsRow & { total: Int8 | null; first_index: Int8 | null; cursor_found: boolean | null };
      if (query.newestFirst && query.afterItemId !== undefined) throw new RangeError('getNodeItemsPage: a cursor pages oldest first only');
      const rows = await run<Row>(db, NODE_ITEMS_PAGE[query.newestFirst ? 'desc' : 'asc'], [service, node, query.afterItemId ?? null, query.max, query.maxBytes]);
      const nodeRow = rows.find((r) => Number(r.k) === 0);
      if (!nodeRow) return undefined;
      const stored = toNode(nodeRow as NodeRow);
      const items = rows.filter((r) => Number(r.k) !== 0).map((r) => toItem(stored.id, r as ItemRow));
      items.sort(query.newestFirst ? (a, b) => b.publishedSeq - a.publishedSeq : (a, b) => a.publishedSeq - b.publishedSeq);
      return { node: stored, items, total: Number(nodeRow.total), firstIndex: Number(nodeRow.first_index), cursorFound: nodeRow.cursor_found === true };
    },

    async ownerUsage(service): Promise<OwnerUsage> {
      const r = (await run<{ nodes: Int8; bytes: Int8 }>(db, SQL.ownerUsage, [service]))[0];
      return r ? { nodes: Number(r.nodes), bytes: Number(r.bytes) } : { nodes: 0, bytes: 0 };
    },

    async countMembers(nodeId) {
      const r = (await run<{ subscriptions: Int8; affiliations: Int8 }>(db, SQL.countMembers, [nodeId]))[0];
      return { subscriptions: Number(r?.subscriptions ?? 0), affiliations: Number(r?.affiliations ?? 0) };
    },

    async listNodes(service) {
      return (await run<NodeRow>(db, SQL.listNodes, [service])).map(toNode);
    },

    async listSubscriptions(nodeId) {
      return (await run<SubscriptionRow>(db, SQL.listSubscriptions, [nodeId])).map(toSubscription);
    },

    async listSubscriptionsOf(service, bare) {
      const rows = await run<SubscriptionRow & { node: string }>(db, SQL.listSubscriptionsOf, [service, jidKey(bare)]);
      return rows.map((r) => ({ ...toSubscription(r), node: r.node }));
    },

    async listAffiliations(nodeId) {
      return await run<{ jid: string; affiliation: SettableAffiliation }>(db, SQL.listAffiliations, [nodeId]);
    },

    async listNodeMembers(service, node) {
      type Row = { id: Int8; subscriptions: Array<{ jid: string; subid: string; created_at: string }>; affiliations: Array<{ jid: string; affiliation: SettableAffiliation }> };
      const r = (await run<Row>(db, SQL.listNodeMembers, [service, node]))[0];
      if (!r) return undefined;
      const nodeId = Number(r.id);
      return {
        subscriptions: r.subscriptions.map((x) => ({ nodeId, jid: x.jid, subid: x.subid, state: 'subscribed' as const, createdAt: new Date(x.created_at) })),
        affiliations: r.affiliations,
      };
    },

    async listAffiliationsOf(service, bare) {
      return await run<{ node: string; affiliation: Affiliation }>(db, SQL.listAffiliationsOf, [service, jidKey(bare)]);
    },

    async getAffiliation(service, node, jid) {
      const rows = await run<{ affiliation: Affiliation }>(db, SQL.getAffiliation, [service, node, jidKey(jid)]);
      return rows[0]?.affiliation ?? 'none';
    },

    async findRequest(requestId) {
      const rows = await run<EventRow & { node_service: string; node_name: string }>(db, SQL.findRequest, [requestId]);
      const r = rows[0];
      return r && { event: toEvent(r), service: r.node_service, node: r.node_name };
    },
  };
}

function transaction(tx: RawExecutor): PubsubTransaction {
  const lockNode = async (service: string, node: string) => {
    const rows = await run<NodeRow>(tx, SQL.lockNode, [service, node]);
    return rows[0] && toNode(rows[0]);
  };
  const duplicateOr = (err: unknown, requestId: string | null): unknown =>
    requestId !== null && isDuplicateRequest(err) ? new DuplicateRequestError(requestId, { cause: err }) : err;
  return {
    ...reader(tx),
    lockNode,

    async createNode(service, node, config, at) {
      const inserted = await run<NodeRow & { usage_nodes: Int8; usage_bytes: Int8 }>(tx, SQL.createNode, [service, node, JSON.stringify(config), at]);
      // a new row is ours until commit (nobody else can see it): no lock needed
      const row = inserted[0];
      if (row) return { node: toNode(row), created: true, usage: { nodes: Number(row.usage_nodes), bytes: Number(row.usage_bytes) } };
      // a concurrent creator won; the conflict waited for its commit, so the row is visible now
      const existing = await lockNode(service, node);
      if (!existing) throw new Error(`pubsub node ${service} ${node} vanished while being created`);
      return { node: existing, created: false };
    },

    async appendEvent(event: NewNodeEvent) {
      let rows: Array<{ seq: Int8 }>;
      try {
        rows = await run<{ seq: Int8 }>(tx, SQL.appendEvent, [event.nodeId, event.kind, event.itemId, event.payload, event.publisher === null ? null : jidKey(event.publisher), event.requestId, event.at]);
      } catch (err) {
        throw duplicateOr(err, event.requestId);
      }
      const row = rows[0];
      if (!row) throw new Error('insert returned no row');
      const { nodeId, kind, itemId, payload, requestId, at } = event;
      return { seq: Number(row.seq), nodeId, kind, itemId, payload, publisher: event.publisher === null ? null : jidKey(event.publisher), requestId, at };
    },

    async publishItem(item: NewPublishedItem, keep: number) {
      if (!Number.isInteger(keep) || keep < 1) throw new RangeError('publishItem: keep must be a positive integer');
      const { nodeId, itemId, payload, requestId, at } = item;
      const publisher = item.publisher === null ? null : jidKey(item.publisher);
      type Row = { seq: Int8; trimmed: string[]; usage_nodes: Int8; usage_bytes: Int8; bytes_delta: Int8 };
      let rows: Row[];
      try {
        rows = await run<Row>(tx, SQL.publishItem, [nodeId, itemId, payload, publisher, requestId, at, keep - 1]);
      } catch (err) {
        throw duplicateOr(err, requestId);
      }
      const row = rows[0];
      if (!row) throw new Error('insert returned no row');
      return {
        event: { seq: Number(row.seq), nodeId, kind: 'publish', itemId, payload, publisher, requestId, at },
        trimmed: row.trimmed,
        usage: { nodes: Number(row.usage_nodes), bytes: Number(row.usage_bytes) },
        bytesDelta: Number(row.bytes_delta),
      };
    },

    async upsertItem(item) {
      await run(tx, SQL.upsertItem, [item.nodeId, item.itemId, item.payload, item.publisher, item.publishedSeq, item.publishedAt]);
    },

    async deleteItem(nodeId, itemId) {
      const rows = await run(tx, SQL.deleteItem, [nodeId, itemId]);
      return rows.length > 0;
    },

    async trimItems(nodeId, keep) {
      const rows = await run<{ item_id: string }>(tx, SQL.trimItems, [nodeId, keep]);
      return rows.map((r) => r.item_id);
    },

    async updateConfig(nodeId, config) {
      await run(tx, SQL.updateConfig, [nodeId, JSON.stringify(config)]);
    },

    async purgeItems(nodeId) {
      return (await run<{ item_id: string }>(tx, SQL.purgeItems, [nodeId])).map((r) => r.item_id);
    },

    async markNodeDeleted(nodeId, at) {
      await run(tx, SQL.markNodeDeleted, [nodeId, at]);
    },

    async erasePayloads(nodeId, itemId) {
      const rows = itemId === undefined ? await run(tx, SQL.erasePayloads, [nodeId]) : await run(tx, SQL.erasePayloadsOfItem, [nodeId, itemId]);
      return rows.length;
    },

    async setAffiliation(nodeId, jid, affiliation, at) {
      if (affiliation === 'none') await run(tx, SQL.removeAffiliation, [nodeId, jidKey(jid)]);
      else await run(tx, SQL.setAffiliation, [nodeId, jidKey(jid), affiliation, at]);
    },

    async addSubscription(nodeId, jid, subid, at) {
      const rows = await run<SubscriptionRow & { created: boolean }>(tx, SQL.addSubscription, [nodeId, jidKey(jid), subid, at]);
      const row = rows[0];
      if (!row) throw new Error('subscription insert returned no row');
      return { subscription: toSubscription(row), created: row.created };
    },

    async removeSubscription(nodeId, jid) {
      const row = (await run<SubscriptionRow>(tx, SQL.removeSubscription, [nodeId, jidKey(jid)]))[0];
      return row && toSubscription(row);
    },

    async removeSubscriptionsOf(nodeId, bare) {
      const rows = await run<SubscriptionRow>(tx, SQL.removeSubscriptionsOf, [nodeId, jidKey(bare)]);
      return rows.map(toSubscription).sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
    },
  };
}

const isRawDb = (db: RawDb | Database): db is RawDb => !('select' in db);

/**
 * Pubsub storage over the broker's database (tables must exist: run the migrations first). Pass
 * `handle.raw` of `createDatabase()`; a drizzle `Database` is accepted too (its connections are used
 * through `rawDbOf`).
 */
export function createPgPubsubStorage(db: RawDb | Database): PubsubStorage {
  const raw = isRawDb(db) ? db : rawDbOf(db);
  return {
    ...reader(raw),
    withTransaction: (fn) => raw.transaction(async (tx) => await fn(transaction(tx))),
  };
}
