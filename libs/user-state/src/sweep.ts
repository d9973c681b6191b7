import { deleteInBatches, type BatchBounds, type BatchedDeleteResult, type RawDb } from '@dbroker/store';

/**
 * Housekeeping of the shared user state, run periodically by every PEP replica (bounded work per run;
 * the rows of each batch are picked `for update skip locked`, so replicas sweeping at once never wait on
 * each other and never delete a row twice):
 * - `presence_sessions` rows past `expires_at` (they already count as offline);
 * - `caps_cache` answers that did not verify, past `expires_at` (CAPS_UNVERIFIED_TTL_MS);
 * - `caps_cache` beyond `capsMaxRows`: unverified rows first, then the oldest fetched (a verified entry in
 *   use is asked for again once: the cache holds no read times, reads would cost a write each). Replicas
 *   evicting at the same moment may together evict up to one batch more than needed each;
 * - `roster_cache` rows fetched more than `rosterMaxAgeMs` ago (a roster not asked for since).
 */
export interface UserStateSweepOptions {
  db: RawDb;
  bounds: BatchBounds;
  capsMaxRows: number;
  rosterMaxAgeMs: number;
  now?: (() => Date) | undefined;
}

export type UserStateSweepResult = Record<'presence_sessions' | 'caps_cache_expired' | 'caps_cache_evicted' | 'roster_cache', BatchedDeleteResult>;

const deleteWhere = (table: string, key: string, where: string, order: string) =>
  `with v as (select ${key} from ${table} where ${where} order by ${order} limit $2 for update skip locked), ` +
  `d as (delete from ${table} t using v where ${key.split(', ').map((k) => `t.${k} = v.${k}`).join(' and ')} returning 1) select count(*)::int as n from d`;

const SQL = {
  presence: { name: 'dbroker_userstate_sweep_presence', text: deleteWhere('presence_sessions', 'full_jid', 'expires_at <= $1', 'expires_at') },
  capsExpired: { name: 'dbroker_userstate_sweep_caps_expired', text: deleteWhere('caps_cache', 'hash, ver', "verified = 'no' and expires_at <= $1", 'fetched_at') },
  // $1: the row bound; 'no' sorts before 'yes': unverified rows go first
  capsEvict: {
    name: 'dbroker_userstate_sweep_caps_evict',
    text:
      'with excess as (select greatest(count(*) - $1, 0)::int as n from caps_cache), ' +
      'v as (select hash, ver from caps_cache order by verified, fetched_at limit least($2, (select n from excess)) for update skip locked), ' +
      'd as (delete from caps_cache t using v where t.hash = v.hash and t.ver = v.ver returning 1) select count(*)::int as n from d',
  },
  roster: { name: 'dbroker_userstate_sweep_roster', text: deleteWhere('roster_cache', 'owner', 'fetched_at < $1', 'fetched_at') },
} as const;

export async function sweepUserState(opts: UserStateSweepOptions): Promise<UserStateSweepResult> {
  const { db, bounds } = opts;
  const now = (opts.now ?? (() => new Date()))();
  const rosterCutoff = new Date(now.getTime() - opts.rosterMaxAgeMs);
  return {
    presence_sessions: await deleteInBatches(db, (limit) => ({ ...SQL.presence, values: [now, limit] }), bounds),
    caps_cache_expired: await deleteInBatches(db, (limit) => ({ ...SQL.capsExpired, values: [now, limit] }), bounds),
    caps_cache_evicted: await deleteInBatches(db, (limit) => ({ ...SQL.capsEvict, values: [opts.capsMaxRows, limit] }), bounds),
    roster_cache: await deleteInBatches(db, (limit) => ({ ...SQL.roster, values: [rosterCutoff, limit] }), bounds),
  };
}
