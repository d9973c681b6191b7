import type { Caps, PresenceEnvelope } from '@dbroker/bus';
import { jidToString, parseJid } from '@dbroker/protocol';
import type { RawDb } from '@dbroker/store';

/**
 * Who is online (`presence_sessions`), from the presences the server forwards to the component
 * (XEP-0356 `presence='roster'`), shared by every replica.
 *
 * Time: a presence counts from the ingress's `receivedAt` (never later than this worker's clock), so
 * presences of one resource processed out of order by different replicas keep their order: an older one
 * than the row is ignored. A row lives until `expires_at` = that time + `ttlMs`, refreshed by every
 * presence: servers that send no unavailable presence on a plain disconnect (ejabberd) are bounded by it,
 * and so is a resource that stays online longer without any presence change (choose `ttlMs` with that in
 * mind). An unavailable presence deletes the row.
 */

export interface PresenceStoreOptions {
  db: RawDb;
  ttlMs: number;
  /** Clock (tests). */
  now?: (() => Date) | undefined;
}

export interface OnlineResource {
  fullJid: string;
  bareJid: string;
  caps?: Caps;
}

export type PresenceOutcome =
  /** The resource was not online (no row, or an expired one): the caller sends last items to it. */
  | { kind: 'initial'; fullJid: string; bareJid: string; caps?: Caps; delayed: boolean }
  /** Still online; `capsChanged`: it advertises another (hash, ver) than before (new `+notify` interests). */
  | { kind: 'update'; fullJid: string; bareJid: string; caps?: Caps; capsChanged: boolean }
  /** Gone; `wasOnline`: it had an unexpired row. */
  | { kind: 'unavailable'; fullJid: string; bareJid: string; wasOnline: boolean }
  /**
   * Nothing changed: `invalid-jid` (`from` is not a JID), `stale` (older than what the row already holds),
   * `expired` (so old that it would already have expired).
   */
  | { kind: 'ignored'; fullJid: string; reason: 'invalid-jid' | 'stale' | 'expired' };

export interface PresenceStore {
  applyPresence(env: PresenceEnvelope): Promise<PresenceOutcome>;
  /** The unexpired resources of one bare JID. */
  onlineResources(bareJid: string): Promise<OnlineResource[]>;
  /** The unexpired resources of many bare JIDs, in one query. */
  onlineResourcesOf(bareJids: readonly string[]): Promise<OnlineResource[]>;
  /** Deletes rows expired for more than `graceMs` (default 0) in one statement; returns how many. The workers use the batched sweep (sweep.ts) instead. */
  deleteExpired(graceMs?: number): Promise<number>;
}

interface ApplyRow {
  prev_expires_at: Date | null;
  prev_caps_hash: string | null;
  prev_caps_ver: string | null;
  written: boolean;
  caps_node: string | null;
  caps_ver: string | null;
  caps_hash: string | null;
}

interface UnavailableRow {
  deleted_expires_at: Date | null;
  kept_updated_at: Date | null;
}

interface ResourceRow {
  full_jid: string;
  bare_jid: string;
  caps_node: string | null;
  caps_ver: string | null;
  caps_hash: string | null;
}

const RESOURCE_COLUMNS = 'full_jid, bare_jid, caps_node, caps_ver, caps_hash';

// A presence without caps keeps the caps of the same (unexpired) session: XEP-0115 §4 wants caps on every
// presence, and a client that drops features advertises a new ver rather than none.
const KEEP_CAPS = (col: string) => `${col} = case when excluded.caps_ver is null and p.expires_at > excluded.updated_at then p.${col} else excluded.${col} end`;

const SQL = {
  // `prev` and `up` see the same snapshot: `prev` is the row before this statement
  available: {
    name: 'dbroker_userstate_presence_available',
    text:
      `with prev as (select expires_at, caps_hash, caps_ver from presence_sessions where full_jid = $1), ` +
      `up as (insert into presence_sessions as p (full_jid, bare_jid, caps_node, caps_ver, caps_hash, available_at, updated_at, expires_at) ` +
      `values ($1, $2, $3, $4, $5, $6, $6, $7) on conflict (full_jid) do update set ` +
      `${KEEP_CAPS('caps_node')}, ${KEEP_CAPS('caps_ver')}, ${KEEP_CAPS('caps_hash')}, ` +
      `available_at = case when p.expires_at <= excluded.updated_at then excluded.available_at else p.available_at end, ` +
      `updated_at = excluded.updated_at, expires_at = excluded.expires_at ` +
      `where p.updated_at <= excluded.updated_at returning caps_node, caps_ver, caps_hash) ` +
      `select prev.expires_at as prev_expires_at, prev.caps_hash as prev_caps_hash, prev.caps_ver as prev_caps_ver, ` +
      `up.caps_node, up.caps_ver, up.caps_hash, exists (select 1 from up) as written ` +
      `from (select 1) as one left join prev on true left join up on true`,
  },
  unavailable: {
    name: 'dbroker_userstate_presence_unavailable',
    text:
      `with d as (delete from presence_sessions where full_jid = $1 and updated_at <= $2 returning expires_at) ` +
      `select (select expires_at from d) as deleted_expires_at, (select updated_at from presence_sessions where full_jid = $1) as kept_updated_at`,
  },
  online: {
    name: 'dbroker_userstate_presence_online',
    text: `select ${RESOURCE_COLUMNS} from presence_sessions where bare_jid = $1 and expires_at > $2 order by full_jid`,
  },
  onlineOf: {
    name: 'dbroker_userstate_presence_online_of',
    text: `select ${RESOURCE_COLUMNS} from presence_sessions where bare_jid = any($1::text[]) and expires_at > $2 order by bare_jid, full_jid`,
  },
  deleteExpired: {
    name: 'dbroker_userstate_presence_delete_expired',
    text: 'with d as (delete from presence_sessions where expires_at <= $1 returning 1) select count(*)::int as n from d',
  },
} as const;

function capsOf(node: string | null, ver: string | null, hash: string | null): Caps | undefined {
  return node !== null && ver !== null && hash !== null ? { node, ver, hash } : undefined;
}

const toResource = (r: ResourceRow): OnlineResource => {
  const caps = capsOf(r.caps_node, r.caps_ver, r.caps_hash);
  return caps ? { fullJid: r.full_jid, bareJid: r.bare_jid, caps } : { fullJid: r.full_jid, bareJid: r.bare_jid };
};

/** Normalised full (or bare) JID and its bare JID; null when not a JID. */
function addressOf(jid: string): { full: string; bare: string } | null {
  const parsed = parseJid(jid);
  if (!parsed) return null;
  const { resource: _resource, ...bare } = parsed;
  return { full: jidToString(parsed), bare: jidToString(bare) };
}

export function createPresenceStore(opts: PresenceStoreOptions): PresenceStore {
  const { db, ttlMs } = opts;
  const now = opts.now ?? (() => new Date());

  /** When the presence happened: `receivedAt`, but never in this worker's future (clock skew). */
  const timeOf = (env: PresenceEnvelope, current: Date): Date => {
    const at = Date.parse(env.receivedAt);
    return Number.isFinite(at) && at < current.getTime() ? new Date(at) : current;
  };

  const normaliseAll = (jids: readonly string[]): string[] => [...new Set(jids.flatMap((j) => addressOf(j)?.bare ?? []))];

  return {
    async applyPresence(env) {
      const addr = addressOf(env.from);
      if (!addr) return { kind: 'ignored', fullJid: env.from, reason: 'invalid-jid' };
      const current = now();
      const at = timeOf(env, current);
      const fullJid = addr.full;
      const bareJid = addr.bare;

      if (!env.available) {
        const [row] = await db.query<UnavailableRow>({ ...SQL.unavailable, values: [fullJid, at] });
        if (row?.deleted_expires_at) return { kind: 'unavailable', fullJid, bareJid, wasOnline: row.deleted_expires_at.getTime() > at.getTime() };
        if (row?.kept_updated_at) return { kind: 'ignored', fullJid, reason: 'stale' };
        return { kind: 'unavailable', fullJid, bareJid, wasOnline: false };
      }

      const expiresAt = new Date(at.getTime() + ttlMs);
      if (expiresAt.getTime() <= current.getTime()) return { kind: 'ignored', fullJid, reason: 'expired' };
      const caps = env.caps;
      const [row] = await db.query<ApplyRow>({ ...SQL.available, values: [fullJid, bareJid, caps?.node ?? null, caps?.ver ?? null, caps?.hash ?? null, at, expiresAt] });
      if (!row?.written) return { kind: 'ignored', fullJid, reason: 'stale' };
      const stored = capsOf(row.caps_node, row.caps_ver, row.caps_hash);
      const withCaps = <T extends object>(o: T): T & { caps?: Caps } => (stored ? { ...o, caps: stored } : o);
      if (row.prev_expires_at === null || row.prev_expires_at.getTime() <= at.getTime()) {
        return withCaps({ kind: 'initial' as const, fullJid, bareJid, delayed: env.delayed });
      }
      const capsChanged = row.prev_caps_hash !== (stored?.hash ?? null) || row.prev_caps_ver !== (stored?.ver ?? null);
      return withCaps({ kind: 'update' as const, fullJid, bareJid, capsChanged });
    },

    async onlineResources(jid) {
      const bare = addressOf(jid)?.bare;
      if (bare === undefined) return [];
      const rows = await db.query<ResourceRow>({ ...SQL.online, values: [bare, now()] });
      return rows.map(toResource);
    },

    async onlineResourcesOf(jids) {
      const bares = normaliseAll(jids);
      if (bares.length === 0) return [];
      const rows = await db.query<ResourceRow>({ ...SQL.onlineOf, values: [bares, now()] });
      return rows.map(toResource);
    },

    async deleteExpired(graceMs = 0) {
      const [row] = await db.query<{ n: number }>({ ...SQL.deleteExpired, values: [new Date(now().getTime() - graceMs)] });
      return Number(row?.n ?? 0);
    },
  };
}
