import { bareJid } from '@dbroker/protocol';
import type { CachedRosterItem } from '@dbroker/store';
import type { CapsResolver } from './caps';
import type { PresenceStore } from './presence';
import type { RosterCache } from './roster';

/** XEP-0163 §4.4 / XEP-0060 §9.2: a `<node>+notify` feature asks for notifications of that node. */
export const NOTIFY_SUFFIX = '+notify';

export interface AudienceContact {
  fullJid: string;
  bareJid: string;
  subscription: 'from' | 'both' | 'to' | 'none';
  groups: string[];
  /** Node names N whose `N+notify` the resource's caps carry (empty without caps or when unresolved). */
  notifyNodes: ReadonlySet<string>;
}

export interface Audience {
  /** The owner's online resources (they get every notification of their own nodes, no caps needed). */
  ownerResources: string[];
  /** Online resources of the owner's roster items, whatever the subscription: the pubsub planner filters by access model. */
  contacts: AudienceContact[];
  /** Online contact resources left out by `maxResources` (0 when none). */
  truncated: number;
}

export interface BuildAudienceInput {
  /** Bare JID of the PEP service owner. */
  owner: string;
  roster: Pick<RosterCache, 'getRoster'>;
  presence: Pick<PresenceStore, 'onlineResourcesOf'>;
  caps: CapsResolver;
  /**
   * Most online resources considered (the owner's first): bounds the caps resolutions and the audience
   * of one notification. Default: no bound.
   */
  maxResources?: number | undefined;
}

/** The `+notify` node names among `features`. */
export function notifyNodesOf(features: Iterable<string> | null): ReadonlySet<string> {
  const nodes = new Set<string>();
  if (!features) return nodes;
  for (const f of features) {
    if (f.length > NOTIFY_SUFFIX.length && f.endsWith(NOTIFY_SUFFIX)) nodes.add(f.slice(0, -NOTIFY_SUFFIX.length));
  }
  return nodes;
}

/**
 * Who may get a notification of `owner`'s PEP nodes right now: the roster (null, i.e. unknown, is no
 * contacts: fail closed), the online resources of the owner and of every contact in one query, and the
 * `+notify` interests of each contact resource from its caps (resolved concurrently; an unresolvable caps
 * gives no interests). Database errors are thrown.
 */
export async function buildAudience({ owner: ownerJid, roster, presence, caps, maxResources = Number.POSITIVE_INFINITY }: BuildAudienceInput): Promise<Audience> {
  const owner = bareJid(ownerJid);
  if (owner === null) return { ownerResources: [], contacts: [], truncated: 0 };
  const items = (await roster.getRoster(owner)) ?? [];
  const byJid = new Map<string, CachedRosterItem>();
  for (const item of items) if (item.jid !== owner && item.subscription !== 'remove') byJid.set(item.jid, item);
  const resources = await presence.onlineResourcesOf([owner, ...byJid.keys()]);

  const ownerResources: string[] = [];
  for (const r of resources) if (r.bareJid === owner && ownerResources.length < maxResources) ownerResources.push(r.fullJid);
  const pending: Array<Promise<AudienceContact>> = [];
  let truncated = 0;
  for (const r of resources) {
    if (r.bareJid === owner) continue;
    const item = byJid.get(r.bareJid);
    if (!item || item.subscription === 'remove') continue;
    if (ownerResources.length + pending.length >= maxResources) {
      truncated++;
      continue;
    }
    const subscription = item.subscription;
    pending.push(
      (r.caps ? caps.features(r.fullJid, r.caps) : Promise.resolve(null)).then((features) => ({
        fullJid: r.fullJid,
        bareJid: r.bareJid,
        subscription,
        groups: item.groups,
        notifyNodes: notifyNodesOf(features),
      })),
    );
  }
  return { ownerResources, contacts: await Promise.all(pending), truncated };
}
