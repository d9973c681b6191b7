import type { PubsubReader } from '@dbroker/pubsub';
import type { RawExecutor } from '@dbroker/store';
import { NS_PIE, userElement, type ExportNode } from './xep0227';

/**
 * Export of PEP services to XEP-0227: `<server-data>`, one `<host>` per domain, one `<user>` per account,
 * written account by account (memory holds one account at a time). Only current state is exported
 * (nodes, configs, members, current items with publisher and time); the node event log is history, not
 * something XEP-0227 can carry.
 */

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

function splitBare(jid: string): { local: string; domain: string } {
  const at = jid.indexOf('@');
  if (at <= 0 || jid.includes('/')) throw new Error(`not a bare JID with a localpart: ${jid}`);
  return { local: jid.slice(0, at), domain: jid.slice(at + 1) };
}

export async function exportNodes(storage: PubsubReader, service: string): Promise<ExportNode[]> {
  const out: ExportNode[] = [];
  for (const node of await storage.listNodes(service)) {
    const [items, affiliations, subscriptions] = [await storage.listItems(node.id), await storage.listAffiliations(node.id), await storage.listSubscriptions(node.id)];
    out.push({
      name: node.node,
      config: node.config,
      affiliations,
      subscriptions: subscriptions.map((s) => ({ jid: s.jid, subid: s.subid })),
      items: items.map((i) => ({ id: i.itemId, payload: i.payload, publisher: i.publisher, at: i.publishedAt })),
    });
  }
  return out;
}

/** Writes the services' PEP as one XEP-0227 document; returns how many accounts and items were written. */
export async function exportXep0227(storage: PubsubReader, services: readonly string[], write: (chunk: string) => Promise<void>): Promise<{ users: number; items: number }> {
  const sorted = services.map((s) => ({ jid: s, ...splitBare(s) })).sort((a, b) => (a.domain === b.domain ? (a.local < b.local ? -1 : 1) : a.domain < b.domain ? -1 : 1));
  await write(`<server-data xmlns='${NS_PIE}'>\n`);
  let host: string | undefined;
  let items = 0;
  for (const s of sorted) {
    if (s.domain !== host) {
      if (host !== undefined) await write('</host>\n');
      host = s.domain;
      await write(`<host jid='${escapeAttr(host)}'>\n`);
    }
    const nodes = await exportNodes(storage, s.jid);
    items += nodes.reduce((n, x) => n + x.items.length, 0);
    await write(`${userElement(s.local, nodes).toString()}\n`);
  }
  if (host !== undefined) await write('</host>\n');
  await write('</server-data>\n');
  return { users: sorted.length, items };
}

/** Every account with at least one live node (Postgres / PGlite). */
export async function listServices(db: RawExecutor): Promise<string[]> {
  const rows = await db.query<{ service: string }>({ text: `select service from pubsub_nodes where deleted_at is null group by service order by service collate "C"` });
  return rows.map((r) => r.service);
}
