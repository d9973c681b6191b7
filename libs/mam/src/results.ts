import xml, { type Element } from '@xmpp/xml';
import { parseXml, STORED_XML_LIMITS } from '@dbroker/protocol';
import type { NodeEventKind } from '@dbroker/pubsub';
import { formatDateTime } from './datetime';
import { NS_CLIENT, NS_DELAY, NS_FORWARD, NS_PUBSUB_EVENT, type MamNamespace } from './namespaces';
import { buildRsmSet, type RsmAnswer } from './rsm';

/** One entry of a node's archive, as the result builders need it. */
export interface ArchiveEntry {
  /** Archive UID. */
  id: string;
  kind: NodeEventKind;
  itemId: string | null;
  /** Item payload XML; null when the node does not persist items. */
  payload: string | null;
  at: Date;
}

/**
 * The event notification an archive entry stands for (XEP-0442 §3: "in the same manner as the
 * notifications sent to subscribers", one item per message): a publish is `<items><item/></items>`
 * (payload included when the node delivers payloads and kept one), a retract `<items><retract/></items>`
 * (XEP-0060 §7.2.2.1), a purge `<purge/>` (§8.5.2), a node deletion `<delete/>` (§8.4.2).
 */
export function buildEvent(node: string, entry: ArchiveEntry, deliverPayloads: boolean): Element {
  const event = xml('event', { xmlns: NS_PUBSUB_EVENT });
  switch (entry.kind) {
    case 'publish': {
      const item = xml('item', entry.itemId === null ? {} : { id: entry.itemId });
      // stored payloads were size-checked when published (the limit may have been lowered since)
      if (deliverPayloads && entry.payload !== null) item.cnode(parseXml(entry.payload, STORED_XML_LIMITS));
      event.cnode(xml('items', { node }, item));
      break;
    }
    case 'retract':
      event.cnode(xml('items', { node }, xml('retract', { id: entry.itemId ?? '' })));
      break;
    case 'purge':
      event.cnode(xml('purge', { node }));
      break;
    case 'delete':
      event.cnode(xml('delete', { node }));
      break;
  }
  return event;
}

export interface ResultMessageOptions {
  ns: MamNamespace;
  /** The archive's JID (the node owner's bare JID): `from` of the result and of the forwarded message. */
  archive: string;
  /** The requester's JID (full): `to` of the result. */
  to: string;
  /** The query's `queryid`, echoed on every `<result/>` (XEP-0313 §4.2). */
  queryId?: string | undefined;
  /** `id` of the result `<message/>` itself. */
  messageId: string;
  node: string;
  entry: ArchiveEntry;
  deliverPayloads: boolean;
}

/**
 * XEP-0313 §4.2 / XEP-0442 §2: `<message from=archive to=requester><result queryid id><forwarded>
 * <delay stamp/><message xmlns='jabber:client' from=owner to=owner><event/></message></forwarded></result>`.
 * `xmlns='jabber:client'` is written on the outer message: it travels as text inside a XEP-0356
 * privileged `<forwarded/>` and must stand on its own there.
 */
export function buildResultMessage(o: ResultMessageOptions): Element {
  const resultAttrs: Record<string, string> = { xmlns: o.ns, id: o.entry.id };
  if (o.queryId !== undefined) resultAttrs.queryid = o.queryId;
  return xml(
    'message',
    { xmlns: NS_CLIENT, from: o.archive, to: o.to, id: o.messageId },
    xml(
      'result',
      resultAttrs,
      xml(
        'forwarded',
        { xmlns: NS_FORWARD },
        xml('delay', { xmlns: NS_DELAY, stamp: formatDateTime(o.entry.at) }),
        xml('message', { xmlns: NS_CLIENT, from: o.archive, to: o.archive }, buildEvent(o.node, o.entry, o.deliverPayloads)),
      ),
    ),
  );
}

export interface FinOptions {
  ns: MamNamespace;
  queryId?: string | undefined;
  /** The page reaches the end of the result set in its paging direction (XEP-0313 §4.3.2 `complete`). */
  complete: boolean;
  rsm: RsmAnswer;
}

/** `<fin xmlns complete><set/></fin>`: the child of the IQ result that ends a query (XEP-0313 §4.3). */
export function buildFin(o: FinOptions): Element {
  const attrs: Record<string, string> = { xmlns: o.ns, complete: o.complete ? 'true' : 'false' };
  // not in XEP-0313 v1 examples, but Prosody sends it and it lets a client match a fin to its query
  if (o.queryId !== undefined) attrs.queryid = o.queryId;
  return xml('fin', attrs, buildRsmSet(o.rsm));
}

/** XEP-0313 §6 archive metadata: first and last entry, or an empty `<metadata/>` for an empty archive. */
export function buildMetadata(ns: MamNamespace, bounds: { first: ArchiveEntry; last: ArchiveEntry } | undefined): Element {
  const md = xml('metadata', { xmlns: ns });
  if (bounds) {
    md.cnode(xml('start', { id: bounds.first.id, timestamp: formatDateTime(bounds.first.at) }));
    md.cnode(xml('end', { id: bounds.last.id, timestamp: formatDateTime(bounds.last.at) }));
  }
  return md;
}
