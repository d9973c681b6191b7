import xml, { type Element } from '@xmpp/xml';
import { parseXml, STORED_XML_LIMITS } from '@dbroker/protocol';
import { decideAccess, type AccessFacts, type Affiliation, type RosterItem, type RosterSubscription } from './access';
import type { NodeConfig } from './config';
import type { PubsubEffect, PubsubItem } from './engine';
import { NS_DELAY, NS_PUBSUB_EVENT, NS_SHIM } from './features';
import { accountJid } from '@dbroker/protocol';

/**
 * Notification planning (XEP-0060 §7.1.2, §7.2.2, §8.4.2, §8.5.2, XEP-0163 §4): pure. Given an effect
 * of the engine and who is around (the caller computes that from its caches), the `<message/>`s to send.
 * Each is `from` the owner's bare JID; the caller wraps it for its transport (XEP-0356 in the ingress).
 */

/** A contact's online resource as the notifier knows it. */
export interface AudienceContact {
  fullJid: string;
  /** The owner's roster subscription of this contact (from the owner's point of view). */
  subscription: RosterSubscription;
  /** The owner's roster groups of this contact. */
  groups: readonly string[];
  /** Nodes whose `<node>+notify` the resource's caps (XEP-0115) advertise. */
  notifyNodes: ReadonlySet<string>;
}

export interface NotificationAudience {
  /** The owner's online resources (full JIDs): always notified, the owner being implicitly subscribed. */
  ownerResources: readonly string[];
  /** Explicit subscribers of the node (XEP-0060 §6.1), full or bare JIDs. */
  subscribers: ReadonlyArray<{ jid: string; subid: string }>;
  /** Online resources of roster contacts (implicit PEP subscriptions, XEP-0163 §4). */
  contacts: ReadonlyArray<AudienceContact>;
  /** The owner's roster: decides whether an explicit subscriber may still read. Default: empty. */
  roster?: ReadonlyArray<RosterItem> | undefined;
  /** The node's affiliations by bare JID (`whitelist`, outcasts). Default: none. */
  affiliations?: ReadonlyMap<string, Affiliation> | undefined;
}

export interface OutgoingMessage {
  /** The recipient (as the stanza's `to`). */
  to: string;
  /**
   * The `<message xmlns='jabber:client'>`, serialised by the sender when it sends it: the messages of one
   * plan share their `<event/>`, so a plan for 1,000 recipients holds one payload, not 1,000 copies.
   */
  element: Element;
}

export interface PlanOptions {
  /** The `id` of each message. Default: a random UUID. */
  makeId?: ((to: string) => string) | undefined;
  /** Add `publisher` (bare JID) on `<item/>` (XEP-0060 §7.1.2.3). Default: false. */
  itemPublisher?: boolean | undefined;
}

interface Recipient {
  to: string;
  subid?: string | undefined;
}

const newId = () => crypto.randomUUID();

/** Parses a stored payload back into an element (it was size-checked when published). */
const payloadElement = (payload: string) => parseXml(payload, STORED_XML_LIMITS);

function itemElement(item: { id: string; payload: string | null; publisher?: string | null | undefined }, deliverPayload: boolean, withPublisher: boolean): Element {
  const attrs: Record<string, string> = { id: item.id };
  if (withPublisher && item.publisher) attrs.publisher = accountJid(item.publisher);
  return deliverPayload && item.payload !== null ? xml('item', attrs, payloadElement(item.payload)) : xml('item', attrs);
}

function message(owner: string, r: Recipient, event: Element, opts: PlanOptions, extra: Element[] = []): OutgoingMessage {
  const children: Element[] = [event, ...extra];
  if (r.subid !== undefined) children.push(xml('headers', { xmlns: NS_SHIM }, xml('header', { name: 'SubID' }, r.subid)));
  const id = (opts.makeId ?? newId)(r.to);
  return { to: r.to, element: xml('message', { xmlns: 'jabber:client', from: owner, to: r.to, type: 'headline', id }, ...children) };
}

/** The facts of a JID in the audience, for `decideAccess`. */
function factsOf(bare: string, audience: NotificationAudience, entry?: RosterItem): AccessFacts {
  return {
    affiliation: audience.affiliations?.get(bare) ?? 'none',
    rosterEntry: entry ?? audience.roster?.find((i) => accountJid(i.jid) === bare),
  };
}

/**
 * Who hears of a node's event: the owner's resources; each explicit subscriber that may still read the
 * node; each contact resource that may read it and advertises `<node>+notify`. One message per address;
 * a bare-JID subscription covers that account's resources (they get no second copy as contacts).
 */
export function audienceRecipients(owner: string, node: string, config: NodeConfig, audience: NotificationAudience): Recipient[] {
  const out = new Map<string, Recipient>();
  const ownerBare = accountJid(owner);
  for (const r of audience.ownerResources) if (!out.has(r)) out.set(r, { to: r });
  const bareSubscribed = new Set<string>();
  for (const s of audience.subscribers) {
    const bare = accountJid(s.jid);
    // the owner is implicitly subscribed (its resources are above)
    if (bare === ownerBare) continue;
    if (!decideAccess(config, factsOf(bare, audience)).allowed) continue;
    if (!out.has(s.jid)) out.set(s.jid, { to: s.jid, subid: s.subid });
    if (bare === s.jid) bareSubscribed.add(bare);
  }
  for (const c of audience.contacts) {
    const bare = accountJid(c.fullJid);
    if (bare === ownerBare || bareSubscribed.has(bare) || out.has(c.fullJid)) continue;
    if (!c.notifyNodes.has(node)) continue;
    const entry: RosterItem = { jid: bare, subscription: c.subscription, groups: c.groups };
    if (!decideAccess(config, factsOf(bare, audience, entry)).allowed) continue;
    out.set(c.fullJid, { to: c.fullJid });
  }
  return [...out.values()];
}

/** The `<event/>` an effect announces to a node's audience, or undefined when it announces nothing. */
function eventFor(effect: PubsubEffect, opts: PlanOptions): Element | undefined {
  const ev = (...children: Element[]) => xml('event', { xmlns: NS_PUBSUB_EVENT }, ...children);
  switch (effect.type) {
    case 'published':
      return ev(
        xml(
          'items',
          { node: effect.node },
          itemElement({ id: effect.itemId, payload: effect.payload, publisher: effect.publisher }, effect.config.deliver_payloads, opts.itemPublisher ?? false),
        ),
      );
    case 'retracted':
      return effect.notify ? ev(xml('items', { node: effect.node }, xml('retract', { id: effect.itemId }))) : undefined;
    case 'node-deleted':
      if (!effect.config.notify_delete) return undefined;
      return ev(xml('delete', { node: effect.node }, ...(effect.redirect ? [xml('redirect', { uri: effect.redirect })] : [])));
    case 'purged':
      // XEP-0060 has no notify_purge: a purge is announced like a deletion of all items
      return effect.config.notify_delete ? ev(xml('purge', { node: effect.node })) : undefined;
    case 'config-changed':
      return effect.config.notify_config ? ev(xml('configuration', { node: effect.node })) : undefined;
    default:
      return undefined;
  }
}

/** Whether an effect announces anything to its node's audience (so the caller need not gather one otherwise). */
export function announcesToAudience(effect: PubsubEffect): boolean {
  return effect.type !== 'subscribed' && eventFor(effect, {}) !== undefined;
}

/**
 * The messages an effect causes. Node events go to the audience (`audienceRecipients`; for a deleted
 * node its former subscribers come from the effect, the audience's being gone); `subscribed` sends the
 * last published item to the new subscriber (XEP-0060 §6.1.7) when there is one.
 */
export function planNotifications(effect: PubsubEffect, audience: NotificationAudience, opts: PlanOptions = {}): OutgoingMessage[] {
  if (effect.type === 'subscribed') {
    const item = effect.lastItem;
    if (!item || effect.config.send_last_published_item === 'never') return [];
    return [lastItemMessage(effect.service, effect.node, effect.config, item, effect.subscription.jid, { ...opts, subid: effect.subscription.subid })];
  }
  const event = eventFor(effect, opts);
  if (!event || effect.type === 'node-created' || effect.type === 'unsubscribed' || effect.type === 'affiliations-changed') return [];
  const withSubscribers = effect.type === 'node-deleted' ? { ...audience, subscribers: [...audience.subscribers, ...effect.subscribers] } : audience;
  return audienceRecipients(effect.service, effect.node, effect.config, withSubscribers).map((r) => message(effect.service, r, event, opts));
}

/**
 * The "last published item" message (XEP-0060 §6.1.7, XEP-0163 §4.3.3): the item as a notification with
 * `<delay stamp/>` (XEP-0203) of its publication time, and the SubID header when sent for a subscription.
 */
export function lastItemMessage(
  owner: string,
  node: string,
  config: NodeConfig,
  item: PubsubItem,
  to: string,
  opts: PlanOptions & { subid?: string | undefined } = {},
): OutgoingMessage {
  const ownerBare = accountJid(owner);
  const event = xml('event', { xmlns: NS_PUBSUB_EVENT }, xml('items', { node }, itemElement(item, config.deliver_payloads, opts.itemPublisher ?? false)));
  const delay = xml('delay', { xmlns: NS_DELAY, from: ownerBare, stamp: item.publishedAt.toISOString() });
  return message(ownerBare, { to, subid: opts.subid }, event, opts, [delay]);
}

export interface LastItemNode {
  node: string;
  config: NodeConfig;
  /** The newest item, if any. */
  lastItem?: PubsubItem | undefined;
}

export interface LastItemTargetsInput {
  owner: string;
  /** The contact resource that just became available (initial presence). */
  contact: AudienceContact;
  /** The owner's nodes (with their newest items). */
  nodes: readonly LastItemNode[];
  /** Affiliations by bare JID, per node name (whitelist, outcasts). Default: none. */
  affiliations?: ReadonlyMap<string, ReadonlyMap<string, Affiliation>> | undefined;
}

/**
 * Which last items to send a contact resource on its initial presence (XEP-0163 §4.3.3): nodes with
 * `send_last_published_item = on_sub_and_presence` that have an item, are in the resource's `+notify`
 * set, and that the contact may read. The owner's own resources qualify too (no roster entry needed).
 */
export function lastItemTargets(input: LastItemTargetsInput): Array<{ node: string; config: NodeConfig; item: PubsubItem }> {
  const bare = accountJid(input.contact.fullJid);
  const isOwner = bare === accountJid(input.owner);
  const entry: RosterItem = { jid: bare, subscription: input.contact.subscription, groups: input.contact.groups };
  const out: Array<{ node: string; config: NodeConfig; item: PubsubItem }> = [];
  for (const n of input.nodes) {
    if (!n.lastItem || n.config.send_last_published_item !== 'on_sub_and_presence') continue;
    if (!input.contact.notifyNodes.has(n.node)) continue;
    const affiliation = input.affiliations?.get(n.node)?.get(bare) ?? 'none';
    if (!isOwner && !decideAccess(n.config, { affiliation, rosterEntry: entry }).allowed) continue;
    out.push({ node: n.node, config: n.config, item: n.lastItem });
  }
  return out;
}

/** `lastItemTargets` as messages to the contact resource. */
export function planLastItemMessages(input: LastItemTargetsInput, opts: PlanOptions = {}): OutgoingMessage[] {
  return lastItemTargets(input).map((t) => lastItemMessage(input.owner, t.node, t.config, t.item, input.contact.fullJid, opts));
}
