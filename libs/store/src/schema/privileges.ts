import type { PrivilegePermissions } from '@dbroker/bus';
import { jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Projection: the XEP-0356 permissions each component last got from its server (`privilege.advertised`).
 * One row per (server, component); a newer advertisement replaces the row, an older one redelivered
 * late does not.
 */
export const privileges = pgTable(
  'privileges',
  {
    server: text('server').notNull(),
    component: text('component').notNull(),
    /** Privilege namespace version of the advertisement (`urn:xmpp:privilege:1` or `:2`). */
    version: text('version').notNull(),
    /** `{ roster, message, presence, iq: [{ namespace, type }] }`, absent permissions as `none`. */
    perms: jsonb('perms').$type<PrivilegePermissions>().notNull(),
    advertisedAt: tstz('advertised_at').notNull(),
    eventId: uuid('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.server, t.component] })],
);

export type PrivilegeRow = typeof privileges.$inferSelect;
export type NewPrivilegeRow = typeof privileges.$inferInsert;
