import { index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** One roster item as the server returned it (XEP-0356 privileged roster get, RFC 6121 §2.1). */
export interface CachedRosterItem {
  /** Contact bare JID. */
  jid: string;
  subscription: 'none' | 'to' | 'from' | 'both' | 'remove';
  /** `ask='subscribe'` pending. */
  ask?: boolean;
  groups: string[];
}

/**
 * Rosters fetched from the server through XEP-0356, shared by every worker replica. Prosody sends no roster
 * pushes, so a row is trusted only until `expires_at`; then the next reader fetches it again.
 */
export const rosterCache = pgTable(
  'roster_cache',
  {
    /** Owner bare JID. */
    owner: text('owner').primaryKey(),
    items: jsonb('items').$type<CachedRosterItem[]>().notNull(),
    fetchedAt: tstz('fetched_at').notNull(),
    expiresAt: tstz('expires_at').notNull(),
  },
  // the sweep deletes rows older than ROSTER_MAX_AGE_MS
  (t) => [index('roster_cache_fetched_at_idx').on(t.fetchedAt)],
);

/**
 * Who is online, with which caps, as the server told the component (XEP-0356 `presence='roster'`). One row
 * per available resource; an unavailable presence deletes it. Servers that send no unavailable presence on
 * a plain disconnect (ejabberd) are bounded by `expires_at`: a row past it counts as offline.
 */
export const presenceSessions = pgTable(
  'presence_sessions',
  {
    /** Full JID of the resource (a bare JID for a remote entity that sent none). */
    fullJid: text('full_jid').primaryKey(),
    bareJid: text('bare_jid').notNull(),
    capsNode: text('caps_node'),
    capsVer: text('caps_ver'),
    capsHash: text('caps_hash'),
    /** When the resource became available (first presence seen). */
    availableAt: tstz('available_at').notNull(),
    /** Last presence seen from it. */
    updatedAt: tstz('updated_at').notNull(),
    expiresAt: tstz('expires_at').notNull(),
  },
  (t) => [index('presence_sessions_bare_jid_idx').on(t.bareJid), index('presence_sessions_expires_at_idx').on(t.expiresAt)],
);

/**
 * XEP-0115 caps resolved by a disco#info query and verified against their hash, shared by every replica.
 * Keyed by (hash function, ver): the verification string identifies the feature set, whatever the node.
 */
export const capsCache = pgTable(
  'caps_cache',
  {
    hash: text('hash').notNull(),
    ver: text('ver').notNull(),
    features: jsonb('features').$type<string[]>().notNull(),
    identities: jsonb('identities').$type<Array<{ category: string; type: string; lang?: string; name?: string }>>().notNull(),
    /** The disco#info answer matched `ver` (an unverifiable answer is cached only briefly, see `expires_at`). */
    verified: text('verified').$type<'yes' | 'no'>().notNull(),
    fetchedAt: tstz('fetched_at').notNull(),
    /** Null for verified entries (they never change); set for unverified ones. */
    expiresAt: tstz('expires_at'),
  },
  // eviction order: unverified ('no' < 'yes') first, oldest first
  (t) => [primaryKey({ columns: [t.hash, t.ver] }), index('caps_cache_eviction_idx').on(t.verified, t.fetchedAt)],
);

export type RosterCacheRow = typeof rosterCache.$inferSelect;
export type PresenceSessionRow = typeof presenceSessions.$inferSelect;
export type CapsCacheRow = typeof capsCache.$inferSelect;
