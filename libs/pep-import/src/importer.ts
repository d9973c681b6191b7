import { createHash, randomUUID } from 'node:crypto';
import {
  buildConfig,
  DEFAULT_MAX_ITEMS_PER_NODE,
  DEFAULT_MAX_PAYLOAD_BYTES,
  effectiveMaxItems,
  MAX_ITEM_ID_BYTES,
  MAX_NODE_NAME_BYTES,
  type NodeConfig,
  type PubsubStorage,
  type PubsubTransaction,
} from '@dbroker/pubsub';
import { accountJid, normalizeJid } from '@dbroker/protocol';
import type { ImportItem, ImportNode, ImportProblem, ImportSource, ImportUser } from './model';

/**
 * Writes what a source yields into the broker's PEP store through the same storage transaction calls a
 * native publish makes (`createNode`, `publishItem`, `setAffiliation`, `addSubscription`), so the rows
 * (node, event log, items, members) are those the engine would have written: MAM on the node starts with
 * the imported publishes, at their original times.
 *
 * - One transaction per node: a node is imported whole or not at all.
 * - Idempotent: each imported publish carries a request id derived from (owner, node, item id, payload,
 *   publisher, time); one already in the log, or an identical current item, is skipped. A node that
 *   exists keeps its configuration (the broker's is newer) and takes only items newer than its newest one
 *   (older ones would displace what was published since the switch); affiliations are set only where none is,
 *   subscriptions added only where missing. Re-running after an interruption therefore resumes.
 * - `dryRun`: the same work in a transaction that is rolled back, so the report says exactly what a real
 *   run would do now.
 */

export interface ImportOptions {
  storage: PubsubStorage;
  dryRun?: boolean | undefined;
  /** The PEP worker's PUBSUB_MAX_ITEMS_PER_NODE: what `max` means and the highest `max_items`. */
  maxItemsPerNode?: number | undefined;
  /** Largest payload accepted, in UTF-8 bytes (the worker's limit). */
  maxPayloadBytes?: number | undefined;
  now?: (() => Date) | undefined;
  /** Accounts imported at once (each node still one transaction). Default 1. */
  concurrency?: number | undefined;
  /** Called after each account. */
  onUser?: ((report: UserReport) => void) | undefined;
}

export type NodeStatus = 'created' | 'existing' | 'skipped';

export interface NodeReport {
  node: string;
  status: NodeStatus;
  /** Publishes written (would be written, in a dry run). */
  itemsImported: number;
  /** Items found already imported (or identical and current). */
  itemsUnchanged: number;
  /**
   * Items not imported into a node that already existed because they are not newer than its newest
   * current item (published through the broker since the switch): importing them would displace it.
   */
  itemsSuperseded: number;
  affiliationsSet: number;
  subscriptionsAdded: number;
  /** Source options and members the broker does not keep. */
  dropped: string[];
}

export interface UserReport {
  owner: string;
  nodes: NodeReport[];
  problems: ImportProblem[];
}

export interface ImportSummary {
  users: number;
  nodesCreated: number;
  nodesExisting: number;
  nodesSkipped: number;
  itemsImported: number;
  itemsUnchanged: number;
  itemsSuperseded: number;
  problems: ImportProblem[];
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The request id of an imported publish: the same source item always gets the same id. */
export function importRequestId(owner: string, node: string, item: ImportItem): string {
  const h = createHash('sha256');
  for (const part of [owner, node, item.id, item.payload, item.publisher ?? '', String(item.at.getTime())]) h.update(part).update('\u0000');
  return `import:${h.digest('hex').slice(0, 40)}`;
}

/** Why the broker would refuse this node (as the engine refuses such a publish), or undefined. */
export function checkNode(node: ImportNode, maxPayloadBytes: number): string | undefined {
  if (node.name.length === 0) return 'empty node name';
  if (utf8Bytes(node.name) > MAX_NODE_NAME_BYTES) return `node name longer than ${MAX_NODE_NAME_BYTES} bytes`;
  for (const item of node.items) {
    if (item.id.length === 0) return 'an item without id';
    if (utf8Bytes(item.id) > MAX_ITEM_ID_BYTES) return `item id longer than ${MAX_ITEM_ID_BYTES} bytes`;
    if (item.payload.length === 0) return `item ${item.id} has no payload`;
    if (utf8Bytes(item.payload) > maxPayloadBytes) return `item ${item.id}: payload larger than ${maxPayloadBytes} bytes`;
    if (Number.isNaN(item.at.getTime())) return `item ${item.id} has no valid time`;
  }
  return undefined;
}

/** The source config within the broker's bounds; a `max_items` above the limit becomes `max` (noted). */
function boundedConfig(node: ImportNode, maxItemsPerNode: number): { config: Partial<NodeConfig>; notes: string[] } {
  const config = { ...node.config };
  const notes: string[] = [];
  if (typeof config.max_items === 'number' && config.max_items > maxItemsPerNode) {
    notes.push(`max_items=${config.max_items} (limited to ${maxItemsPerNode})`);
    config.max_items = 'max';
  }
  return { config, notes };
}

class DryRunRollback extends Error {
  constructor(readonly report: NodeReport) {
    super('dry run');
  }
}

async function writeNode(tx: PubsubTransaction, owner: string, node: ImportNode, config: Partial<NodeConfig>, maxItemsPerNode: number, now: Date): Promise<Omit<NodeReport, 'dropped'>> {
  let stored = await tx.lockNode(owner, node.name);
  let status: NodeStatus = 'existing';
  if (!stored) {
    const created = await tx.createNode(owner, node.name, buildConfig(config), node.items[0]?.at ?? now);
    stored = created.node;
    if (created.created) status = 'created';
  }
  const keep = effectiveMaxItems(stored.config, maxItemsPerNode);
  const currentItems = await tx.listItems(stored.id);
  const current = new Map(currentItems.map((i) => [i.itemId, i]));
  // a node that existed before this import: only what is newer than its newest item may follow it
  const newestAt = status === 'existing' ? Math.max(-Infinity, ...currentItems.map((i) => i.publishedAt.getTime())) : -Infinity;
  let itemsImported = 0;
  let itemsUnchanged = 0;
  let itemsSuperseded = 0;
  for (const item of node.items) {
    const requestId = importRequestId(owner, node.name, item);
    const have = current.get(item.id);
    if ((have && have.payload === item.payload) || (await tx.findRequest(requestId))) {
      itemsUnchanged++;
      continue;
    }
    if (item.at.getTime() <= newestAt) {
      itemsSuperseded++;
      continue;
    }
    // as the engine publishes: persistent nodes write event + item (+ trim), others only the event
    if (stored.config.persist_items) await tx.publishItem({ nodeId: stored.id, itemId: item.id, payload: item.payload, publisher: item.publisher, requestId, at: item.at }, keep);
    else await tx.appendEvent({ nodeId: stored.id, kind: 'publish', itemId: item.id, payload: null, publisher: item.publisher, requestId, at: item.at });
    itemsImported++;
  }
  const setAlready = new Set((await tx.listAffiliations(stored.id)).map((a) => a.jid));
  let affiliationsSet = 0;
  for (const a of node.affiliations) {
    if (setAlready.has(a.jid)) continue;
    await tx.setAffiliation(stored.id, a.jid, a.affiliation, now);
    affiliationsSet++;
  }
  let subscriptionsAdded = 0;
  for (const s of node.subscriptions) {
    const r = await tx.addSubscription(stored.id, s.jid, s.subid ?? randomUUID(), now);
    if (r.created) subscriptionsAdded++;
  }
  return { node: node.name, status, itemsImported, itemsUnchanged, itemsSuperseded, affiliationsSet, subscriptionsAdded };
}

/**
 * The account and the JIDs of its nodes in the normalised form the broker stores and compares (the one JID
 * helper of @dbroker/protocol); a member whose JID is not valid is dropped (noted), an account whose JID is
 * not valid is refused whole.
 */
export function normaliseUser(user: ImportUser): ImportUser | ImportProblem {
  const owner = accountJid(user.owner);
  if (owner === '' || !owner.includes('@')) return { owner: user.owner, where: 'account', message: `not a valid account JID: ${user.owner}` };
  const nodes = user.nodes.map((n): ImportNode => {
    const dropped = [...n.dropped];
    const affiliations = n.affiliations.flatMap((a) => {
      const jid = accountJid(a.jid);
      if (jid === '') dropped.push(`affiliation of invalid JID ${a.jid}`);
      return jid === '' || jid === owner ? [] : [{ ...a, jid }];
    });
    const subscriptions = n.subscriptions.flatMap((s) => {
      const jid = normalizeJid(s.jid);
      if (jid === null) dropped.push(`subscription of invalid JID ${s.jid}`);
      return jid === null ? [] : [{ ...s, jid }];
    });
    const items = n.items.map((i) => ({ ...i, publisher: i.publisher === null ? null : (normalizeJid(i.publisher) ?? owner) }));
    return { ...n, affiliations, subscriptions, items, dropped };
  });
  return { owner, nodes, problems: user.problems.map((p) => ({ ...p, owner })) };
}

/** Imports one account, node by node. */
export async function importUser(source: ImportUser, opts: ImportOptions): Promise<UserReport> {
  const normal = normaliseUser(source);
  if (!('nodes' in normal)) return { owner: source.owner, nodes: [], problems: [normal] };
  const user = normal;
  const maxItemsPerNode = opts.maxItemsPerNode ?? DEFAULT_MAX_ITEMS_PER_NODE;
  const maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const now = (opts.now ?? (() => new Date()))();
  const problems = [...user.problems];
  const skipped = (name: string, dropped: string[]): NodeReport => ({ node: name, status: 'skipped', itemsImported: 0, itemsUnchanged: 0, itemsSuperseded: 0, affiliationsSet: 0, subscriptionsAdded: 0, dropped });
  const nodes: NodeReport[] = user.problems.flatMap((p) => (p.node === undefined ? [] : [skipped(p.node, [])]));
  for (const node of user.nodes) {
    const bad = checkNode(node, maxPayloadBytes);
    if (bad) {
      problems.push({ owner: user.owner, node: node.name, where: `node ${node.name}`, message: bad });
      nodes.push(skipped(node.name, node.dropped));
      continue;
    }
    const { config, notes } = boundedConfig(node, maxItemsPerNode);
    const dropped = [...node.dropped, ...notes];
    try {
      const report = await opts.storage.withTransaction(async (tx) => {
        const r = { ...(await writeNode(tx, user.owner, node, config, maxItemsPerNode, now)), dropped };
        if (opts.dryRun) throw new DryRunRollback(r);
        return r;
      });
      nodes.push(report);
    } catch (err) {
      if (!(err instanceof DryRunRollback)) throw err;
      nodes.push(err.report);
    }
  }
  return { owner: user.owner, nodes, problems };
}

/** Imports every account of the source; reports each through `onUser` and sums them up. */
export async function importAll(source: ImportSource, opts: ImportOptions): Promise<ImportSummary> {
  const summary: ImportSummary = { users: 0, nodesCreated: 0, nodesExisting: 0, nodesSkipped: 0, itemsImported: 0, itemsUnchanged: 0, itemsSuperseded: 0, problems: [] };
  const add = (report: UserReport) => {
    summary.users++;
    for (const n of report.nodes) {
      if (n.status === 'created') summary.nodesCreated++;
      else if (n.status === 'existing') summary.nodesExisting++;
      else summary.nodesSkipped++;
      summary.itemsImported += n.itemsImported;
      summary.itemsUnchanged += n.itemsUnchanged;
      summary.itemsSuperseded += n.itemsSuperseded;
    }
    summary.problems.push(...report.problems);
    opts.onUser?.(report);
  };
  // accounts are independent (their nodes are distinct rows): up to `concurrency` at once
  const limit = Math.max(1, opts.concurrency ?? 1);
  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  for await (const user of source.users()) {
    if (failure) break;
    const p: Promise<void> = importUser(user, opts).then(add, (err: unknown) => {
      failure ??= { err };
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= limit) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) throw failure.err;
  return summary;
}
