import type { Element } from '@xmpp/xml';
import { jidToString, parseJid } from '@dbroker/protocol';
import type { CachedRosterItem, RawDb } from '@dbroker/store';
import { askIq } from './send-iq';
import { SingleFlight, type Flight } from './single-flight';
import type { SendIq, UserStateLogger } from './types';

export const ROSTER_NS = 'jabber:iq:roster';

const SUBSCRIPTIONS = new Set(['none', 'to', 'from', 'both']);

export type RosterParse = { ok: true; items: CachedRosterItem[] } | { ok: false; reason: string };

/**
 * The items of a roster result IQ (RFC 6121 §2.1.3). Defensive about what the server sends: an item with
 * an invalid JID is dropped, a repeated JID keeps its first item, `subscription='remove'` (a push value)
 * is dropped, a missing or unknown subscription counts as `none` (the least access), groups are
 * deduplicated. JIDs are normalised like presence JIDs (`parseJid`), so the two compare.
 */
export function parseRosterResult(iq: Element): RosterParse {
  if (iq.name !== 'iq' || iq.attrs.type !== 'result') return { ok: false, reason: `not a result IQ (type ${iq.attrs.type ?? '(none)'})` };
  const query = iq.getChild('query', ROSTER_NS);
  // without `ver` in the request the server always includes the query (an empty result is §2.6.3 versioning)
  if (!query) return { ok: false, reason: 'result without a jabber:iq:roster query' };
  const items: CachedRosterItem[] = [];
  const seen = new Set<string>();
  for (const el of query.getChildren('item', ROSTER_NS)) {
    const parsed = parseJid(el.attrs.jid ?? '');
    if (!parsed) continue;
    const jid = jidToString(parsed);
    const sub = el.attrs.subscription ?? 'none';
    if (sub === 'remove' || seen.has(jid)) continue;
    seen.add(jid);
    const groups = [...new Set(el.getChildren('group', ROSTER_NS).map((g) => g.getText()))].filter((g) => g !== '');
    const item: CachedRosterItem = { jid, subscription: SUBSCRIPTIONS.has(sub) ? (sub as CachedRosterItem['subscription']) : 'none', groups };
    if (el.attrs.ask === 'subscribe') item.ask = true;
    items.push(item);
  }
  return { ok: true, items };
}

export interface RosterCacheOptions {
  db: RawDb;
  sendIq: SendIq;
  /** How long a fetched roster is trusted (Prosody sends no roster pushes). */
  ttlMs: number;
  /**
   * When a fetch fails, the stored roster is used instead only while it was fetched less than this long ago;
   * an older one counts as no roster (fail closed). Default: unbounded (tests; the PEP worker sets it).
   */
  staleMaxMs?: number | undefined;
  /** `timeoutMs` of the roster-get envelope. */
  timeoutMs: number;
  /** Worker id written in the envelope. */
  worker: string;
  logger: UserStateLogger;
  /** Clock (tests). */
  now?: (() => Date) | undefined;
}

export interface RosterCache {
  /**
   * The owner's roster: the cached row while fresh, else fetched (XEP-0356 roster get) and stored for
   * `ttlMs`. When the fetch fails the stale row is returned (logged) if it is younger than `staleMaxMs`,
   * else null: the caller treats null as "no contacts" (fail closed). Concurrent calls for one owner in this process share one read and fetch.
   * Database errors are thrown.
   */
  getRoster(owner: string): Promise<CachedRosterItem[] | null>;
  /**
   * The next `getRoster(owner)` on any replica fetches again (the row stays as the stale fallback); a fetch
   * running in this process is not stored. A fetch running on another replica may still store what it got
   * (bounded by `ttlMs`).
   */
  invalidate(owner: string): Promise<void>;
}

interface RosterRow {
  items: CachedRosterItem[];
  fetched_at: Date;
  expires_at: Date;
}

const SQL = {
  get: { name: 'dbroker_userstate_roster_get', text: 'select items, fetched_at, expires_at from roster_cache where owner = $1' },
  // an older fetch (by send time) never replaces a newer one, whatever order they finish in
  put: {
    name: 'dbroker_userstate_roster_put',
    text:
      'insert into roster_cache (owner, items, fetched_at, expires_at) values ($1, $2::text::jsonb, $3, $4) ' +
      'on conflict (owner) do update set items = excluded.items, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at ' +
      'where roster_cache.fetched_at <= excluded.fetched_at',
  },
  expire: { name: 'dbroker_userstate_roster_expire', text: 'update roster_cache set expires_at = $2 where owner = $1 and expires_at > $2' },
} as const;

export function createRosterCache(opts: RosterCacheOptions): RosterCache {
  const { db, sendIq, ttlMs, timeoutMs, worker, logger } = opts;
  const staleMaxMs = opts.staleMaxMs ?? Infinity;
  const now = opts.now ?? (() => new Date());
  const flights = new SingleFlight<CachedRosterItem[] | null>();

  const normalise = (owner: string): string | null => {
    const jid = parseJid(owner);
    return jid && jid.resource === undefined && jid.local !== undefined ? jidToString(jid) : null;
  };

  async function load(owner: string, flight: Flight): Promise<CachedRosterItem[] | null> {
    const [row] = await db.query<RosterRow>({ ...SQL.get, values: [owner] });
    const fetchedAt = now();
    if (row && row.expires_at.getTime() > fetchedAt.getTime()) return row.items;

    const outcome = await askIq(sendIq, { v: 1, kind: 'roster-get', to: owner, worker, timeoutMs });
    const parsed = outcome.ok ? parseRosterResult(outcome.iq) : outcome;
    if (!parsed.ok) {
      const staleMs = row ? fetchedAt.getTime() - row.fetched_at.getTime() : undefined;
      const usable = staleMs !== undefined && staleMs <= staleMaxMs;
      const msg = usable ? 'roster fetch failed: using the stale roster' : row ? 'roster fetch failed: the stored roster is too old to use (no contacts)' : 'roster fetch failed: no roster known (no contacts)';
      logger.warn({ owner, reason: parsed.reason, stale: row !== undefined, staleMs, staleMaxMs: row ? staleMaxMs : undefined }, msg);
      return usable ? row!.items : null;
    }
    // invalidated while it ran: the answer may predate the change, give it to its callers only
    if (!flight.forgotten) {
      try {
        await db.query({ ...SQL.put, values: [owner, JSON.stringify(parsed.items), fetchedAt, new Date(fetchedAt.getTime() + ttlMs)] });
      } catch (err) {
        logger.warn({ owner, err }, 'roster fetched but not cached');
      }
    }
    return parsed.items;
  }

  return {
    async getRoster(ownerJid) {
      const owner = normalise(ownerJid);
      if (owner === null) {
        logger.warn({ owner: ownerJid }, 'roster of something that is not a bare user JID: no contacts');
        return null;
      }
      return flights.run(owner, (flight) => load(owner, flight));
    },
    async invalidate(ownerJid) {
      const owner = normalise(ownerJid);
      if (owner === null) return;
      flights.forget(owner);
      await db.query({ ...SQL.expire, values: [owner, now()] });
    },
  };
}
