import { bigint, index, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { pubsubNodes } from './pubsub';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Explicit subscriptions (XEP-0060 §6.1) to a PEP node. `jid` is the subscriber as it subscribed (full or
 * bare JID, local or remote); one subscription per (node, jid), identified to the client by `subid`.
 * Implicit PEP subscriptions (contacts with `+notify`) are not stored: they come from rosters and caps.
 */
export const pubsubSubscriptions = pgTable(
  'pubsub_subscriptions',
  {
    nodeId: bigint('node_id', { mode: 'number' })
      .notNull()
      .references(() => pubsubNodes.id, { onDelete: 'cascade' }),
    jid: text('jid').notNull(),
    subid: text('subid').notNull(),
    /** `subscribed` (PEP grants or refuses at once, so `pending` / `unconfigured` do not occur today). */
    state: text('state').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.jid] }), index('pubsub_subscriptions_jid_idx').on(t.jid)],
);

/**
 * Affiliations the owner set (XEP-0060 §8.9): `member` (read a whitelist node), `outcast` (banned),
 * `publisher`, ... per bare JID. The owner's own affiliation is implicit (the node's service).
 */
export const pubsubAffiliations = pgTable(
  'pubsub_affiliations',
  {
    nodeId: bigint('node_id', { mode: 'number' })
      .notNull()
      .references(() => pubsubNodes.id, { onDelete: 'cascade' }),
    jid: text('jid').notNull(),
    affiliation: text('affiliation').notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.jid] })],
);

export type PubsubSubscriptionRow = typeof pubsubSubscriptions.$inferSelect;
export type PubsubAffiliationRow = typeof pubsubAffiliations.$inferSelect;
