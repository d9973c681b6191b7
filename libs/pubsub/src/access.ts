import type { NodeConfig } from './config';
import { accountJid } from '@dbroker/protocol';

/**
 * Facts about a requester that decide access to a non-owned node (XEP-0060 §4.5 access models, §4.1
 * affiliations), and the one pure decision over them. `node-access.ts` (`decideNodeRead`) applies it to
 * storage-backed facts on every read path; the notification planner applies it to facts the caller
 * already holds (an audience), so both decide alike.
 */

/** XEP-0060 §4.1 affiliations. PEP has one owner (the account); the others are set by the owner. */
export const AFFILIATIONS = ['owner', 'publisher', 'member', 'none', 'outcast'] as const;
export type Affiliation = (typeof AFFILIATIONS)[number];
/** What the owner may set on others (§8.9.2): `owner` stays the account's alone. */
export const SETTABLE_AFFILIATIONS = ['publisher', 'member', 'none', 'outcast'] as const;
export type SettableAffiliation = (typeof SETTABLE_AFFILIATIONS)[number];

export type RosterSubscription = 'none' | 'to' | 'from' | 'both';

/** One item of the owner's roster (RFC 6121 §2.1.2). */
export interface RosterItem {
  /** Bare JID of the contact. */
  jid: string;
  subscription: RosterSubscription;
  groups: readonly string[];
}

/** The owners' rosters (implemented by the deployment, e.g. a Postgres cache of roster pushes). */
export interface RosterLookup {
  /** The roster of `owner` (bare JID); empty when unknown. */
  getRoster(owner: string): Promise<ReadonlyArray<RosterItem>>;
}

/** Affiliations the owner set (a `PubsubReader` is one). */
export interface AffiliationLookup {
  /** The affiliation of `jid` (bare) with the node; `none` when none was set or the node does not exist. */
  getAffiliation(service: string, node: string, jid: string): Promise<Affiliation>;
}

/** What the decision needs of a node (a `StoredNode` fits). */
export interface ReadableNode {
  /** Owner bare JID. */
  service: string;
  node: string;
  config: NodeConfig;
}

/**
 * Where the facts about a non-owner come from. Each is asked lazily, only when the decision needs it:
 * the affiliation always (outcasts are refused even on `open` nodes), the roster entry only for
 * `presence` / `roster` nodes.
 */
export interface AccessPolicy {
  affiliation(node: ReadableNode, actorBare: string): Promise<Affiliation>;
  /** The owner's roster item for `actorBare`, or undefined when not in the roster. */
  rosterEntry(owner: string, actorBare: string): Promise<RosterItem | undefined>;
}

/** Nobody is affiliated and no roster is known: only the owner reads non-open nodes. */
export const ownerOnlyAccessPolicy: AccessPolicy = Object.freeze({
  affiliation: async () => 'none' as const,
  rosterEntry: async () => undefined,
});

/** No rosters at all (every roster is empty). */
export const emptyRosterLookup: RosterLookup = Object.freeze({ getRoster: async () => [] });

const noAffiliations: AffiliationLookup = Object.freeze({ getAffiliation: async () => 'none' as const });

/**
 * The access policy over the owner's roster and the node's affiliations: `presence` admits roster items
 * with subscription `from`/`both`, `roster` those in one of `roster_groups_allowed`, `whitelist` the
 * affiliated (`member`, `publisher`); `outcast` is refused everything. Pass the pubsub storage as
 * `affiliations` (without it nobody is affiliated).
 */
export function createRosterAccessPolicy(roster: RosterLookup, affiliations: AffiliationLookup = noAffiliations): AccessPolicy {
  return {
    affiliation: (node, actorBare) => affiliations.getAffiliation(node.service, node.node, accountJid(actorBare)),
    async rosterEntry(owner, actorBare) {
      const bare = accountJid(actorBare);
      return (await roster.getRoster(accountJid(owner))).find((i) => accountJid(i.jid) === bare);
    },
  };
}

/** An in-memory `RosterLookup` (tests, single-process setups). */
export interface MemoryRosterLookup extends RosterLookup {
  set(owner: string, items: ReadonlyArray<RosterItem>): void;
}

export function createMemoryRosterLookup(initial: Readonly<Record<string, ReadonlyArray<RosterItem>>> = {}): MemoryRosterLookup {
  const rosters = new Map<string, ReadonlyArray<RosterItem>>(Object.entries(initial));
  return {
    getRoster: async (owner) => rosters.get(accountJid(owner)) ?? [],
    set: (owner, items) => void rosters.set(accountJid(owner), items.map((i) => ({ ...i, groups: [...i.groups] }))),
  };
}

/** What a non-owner is to the node. */
export interface AccessFacts {
  affiliation: Affiliation;
  /** The owner's roster item for the requester; undefined when not in the roster (or not needed). */
  rosterEntry?: RosterItem | undefined;
}

export type AccessVerdict =
  | { allowed: true; by: 'open-node' | 'affiliation' | 'roster' }
  | { allowed: false; reason: 'outcast' | 'presence' | 'roster' | 'whitelist' };

/** Whether the decision needs the roster entry (so lookups can skip it). */
export function needsRoster(config: NodeConfig, affiliation: Affiliation): boolean {
  return affiliation !== 'outcast' && !isAffiliated(affiliation) && (config.access_model === 'presence' || config.access_model === 'roster');
}

const isAffiliated = (a: Affiliation) => a === 'owner' || a === 'publisher' || a === 'member';

/**
 * The decision for a non-owner (the owner is decided before: always allowed). Outcasts never; the
 * affiliated (member, publisher) always; then the access model.
 */
export function decideAccess(config: NodeConfig, facts: AccessFacts): AccessVerdict {
  if (facts.affiliation === 'outcast') return { allowed: false, reason: 'outcast' };
  if (isAffiliated(facts.affiliation)) return { allowed: true, by: 'affiliation' };
  const entry = facts.rosterEntry;
  switch (config.access_model) {
    case 'open':
      return { allowed: true, by: 'open-node' };
    case 'presence':
      return entry && (entry.subscription === 'from' || entry.subscription === 'both') ? { allowed: true, by: 'roster' } : { allowed: false, reason: 'presence' };
    case 'roster': {
      const allowed = new Set(config.roster_groups_allowed);
      return entry && entry.groups.some((g) => allowed.has(g)) ? { allowed: true, by: 'roster' } : { allowed: false, reason: 'roster' };
    }
    case 'whitelist':
      return { allowed: false, reason: 'whitelist' };
  }
}
