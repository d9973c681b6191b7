import type { Caps } from '@dbroker/bus';
import type { RawDb } from '@dbroker/store';
import { checkCaps, DISCO_INFO_NS, readDiscoInfo, type DiscoIdentity } from './caps-hash';
import { askIq } from './send-iq';
import { SingleFlight } from './single-flight';
import type { SendIq, UserStateLogger } from './types';

/**
 * XEP-0115 caps → features, shared by every replica in `caps_cache` (keyed by hash function and ver).
 *
 * Unknown (hash, ver): a disco#info to the advertising full JID with node `caps.node#caps.ver`, then
 * - the answer verifies (§5.4): cached for every entity advertising that (hash, ver), until the size bound
 *   of the sweep (sweep.ts, CAPS_CACHE_MAX_ROWS) evicts it;
 * - it does not (mismatch, unsupported hash such as md5, ill-formed answer): its features are still used,
 *   logged as a warning, and cached only for `unverifiedTtlMs`. Policy: the disco#info answer is the
 *   entity's own word about itself, so ignoring it would leave a client with a broken caps implementation
 *   without notifications it asked for. §5.4 says not to cache such an answer globally; the short expiry is
 *   the compromise: another entity advertising the same (hash, ver) within that window gets the same
 *   features (a client sending someone else's ver can skew their `+notify` for at most `unverifiedTtlMs`,
 *   and never once the ver is verified: an unverified answer never replaces a verified one), and a broken
 *   client is asked once per window rather than on every publish;
 * - no answer (timeout, error IQ, offline ingress, ...): null, remembered in this process for
 *   `failureTtlMs` per (full JID, hash, ver) so an unresponsive client does not cost a timeout per publish.
 * Concurrent resolutions of one (hash, ver) in one process share one query; verified entries are also
 * kept in process memory (they never change).
 */

export interface CapsResolverOptions {
  db: RawDb;
  sendIq: SendIq;
  /** `timeoutMs` of the disco#info envelope. */
  timeoutMs: number;
  /** How long an answer that did not verify is used for its (hash, ver). */
  unverifiedTtlMs: number;
  /** How long a failed disco#info is not retried for the same (full JID, hash, ver) in this process (default 60 s). */
  failureTtlMs?: number | undefined;
  /** Verified entries kept in process memory (default 10,000). */
  memoryEntries?: number | undefined;
  logger: UserStateLogger;
  worker: string;
  now?: (() => Date) | undefined;
}

export interface CapsResolver {
  /** The features of the entity advertising `caps`; null when they cannot be learnt now. */
  features(fullJid: string, caps: Caps): Promise<ReadonlySet<string> | null>;
}

export const DEFAULT_CAPS_FAILURE_TTL_MS = 60_000;
export const DEFAULT_CAPS_MEMORY_ENTRIES = 10_000;

interface CapsRow {
  features: string[];
  verified: 'yes' | 'no';
  expires_at: Date | null;
}

const SQL = {
  get: { name: 'dbroker_userstate_caps_get', text: 'select features, verified, expires_at from caps_cache where hash = $1 and ver = $2' },
  // an unverified answer never replaces a verified one; a verified one replaces anything
  put: {
    name: 'dbroker_userstate_caps_put',
    text:
      'insert into caps_cache (hash, ver, features, identities, verified, fetched_at, expires_at) values ($1, $2, $3::text::jsonb, $4::text::jsonb, $5, $6, $7) ' +
      'on conflict (hash, ver) do update set features = excluded.features, identities = excluded.identities, verified = excluded.verified, ' +
      'fetched_at = excluded.fetched_at, expires_at = excluded.expires_at where caps_cache.verified = \'no\'',
  },
} as const;

export function createCapsResolver(opts: CapsResolverOptions): CapsResolver {
  const { db, sendIq, timeoutMs, unverifiedTtlMs, logger, worker } = opts;
  const now = opts.now ?? (() => new Date());
  const failureTtlMs = opts.failureTtlMs ?? DEFAULT_CAPS_FAILURE_TTL_MS;
  const memoryEntries = opts.memoryEntries ?? DEFAULT_CAPS_MEMORY_ENTRIES;
  const flights = new SingleFlight<ReadonlySet<string> | null>();
  const verified = new Map<string, ReadonlySet<string>>();
  const failures = new Map<string, number>();

  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    // insertion order is age: drop the oldest when full
    if (map.size >= memoryEntries) map.delete(map.keys().next().value as string);
    map.set(key, value);
  };

  async function resolve(fullJid: string, caps: Caps, key: string): Promise<ReadonlySet<string> | null> {
    const [row] = await db.query<CapsRow>({ ...SQL.get, values: [caps.hash, caps.ver] });
    const t = now();
    if (row && (row.verified === 'yes' || (row.expires_at !== null && row.expires_at.getTime() > t.getTime()))) {
      const set: ReadonlySet<string> = new Set(row.features);
      if (row.verified === 'yes') remember(verified, key, set);
      return set;
    }

    const node = `${caps.node}#${caps.ver}`;
    const outcome = await askIq(sendIq, { v: 1, kind: 'disco-info', to: fullJid, node, worker, timeoutMs });
    const query = outcome.ok ? outcome.iq.getChild('query', DISCO_INFO_NS) : undefined;
    if (!outcome.ok || !query) {
      const reason = outcome.ok ? 'result without a disco#info query' : outcome.reason;
      logger.warn({ jid: fullJid, node, hash: caps.hash, reason }, 'caps not resolved: no +notify features known for this resource');
      remember(failures, `${fullJid}\n${key}`, now().getTime() + failureTtlMs);
      return null;
    }

    const info = readDiscoInfo(query);
    const features = [...new Set(info.features)].sort();
    const identities = info.identities.map((i): DiscoIdentity => ({ ...i }));
    const check = checkCaps(query, caps);
    const fetchedAt = now();
    const ok = check.result === 'verified';
    if (!ok) {
      const why = check.result === 'mismatch' ? `answer hashes to ${check.computed}` : check.reason;
      logger.warn({ jid: fullJid, node, hash: caps.hash, ver: caps.ver, why, features: features.length }, 'caps answer does not verify: its features are used, cached briefly');
    }
    try {
      await db.query({
        ...SQL.put,
        values: [caps.hash, caps.ver, JSON.stringify(features), JSON.stringify(identities), ok ? 'yes' : 'no', fetchedAt, ok ? null : new Date(fetchedAt.getTime() + unverifiedTtlMs)],
      });
    } catch (err) {
      logger.warn({ jid: fullJid, hash: caps.hash, ver: caps.ver, err }, 'caps resolved but not cached');
    }
    const set: ReadonlySet<string> = new Set(features);
    if (ok) remember(verified, key, set);
    return set;
  }

  return {
    async features(fullJid, caps) {
      const key = `${caps.hash}\n${caps.ver}`;
      const known = verified.get(key);
      if (known) return known;
      const failedUntil = failures.get(`${fullJid}\n${key}`);
      if (failedUntil !== undefined) {
        if (failedUntil > now().getTime()) return null;
        failures.delete(`${fullJid}\n${key}`);
      }
      return flights.run(key, () => resolve(fullJid, caps, key));
    },
  };
}
