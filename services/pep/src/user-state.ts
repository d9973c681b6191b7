import type { Bus } from '@dbroker/bus';
import type { RawDb } from '@dbroker/store';
import { createCapsResolver, createPresenceStore, createRosterCache, sendIqOverNats, type UserStateLogger } from '@dbroker/user-state';

/**
 * The PEP worker's view of users (rosters, who is online with which caps), shared by every replica in
 * Postgres; the IQs it needs (XEP-0356 roster get, caps disco#info) go through the ingress over NATS.
 */
export interface UserStateOptions {
  db: RawDb;
  nc: Bus['nc'];
  subjectPrefix: string;
  worker: string;
  logger: UserStateLogger;
  rosterTtlMs: number;
  presenceTtlMs: number;
  iqTimeoutMs: number;
  capsUnverifiedTtlMs: number;
  /** A stale roster is used when a fetch fails only while younger than this (default unbounded). */
  rosterStaleMaxMs?: number;
}

export function createUserState(opts: UserStateOptions) {
  const sendIq = sendIqOverNats(opts.nc, opts.subjectPrefix);
  const roster = createRosterCache({ db: opts.db, sendIq, ttlMs: opts.rosterTtlMs, staleMaxMs: opts.rosterStaleMaxMs, timeoutMs: opts.iqTimeoutMs, worker: opts.worker, logger: opts.logger });
  const presence = createPresenceStore({ db: opts.db, ttlMs: opts.presenceTtlMs });
  const caps = createCapsResolver({ db: opts.db, sendIq, timeoutMs: opts.iqTimeoutMs, unverifiedTtlMs: opts.capsUnverifiedTtlMs, logger: opts.logger, worker: opts.worker });
  return { roster, presence, caps };
}

export type UserState = ReturnType<typeof createUserState>;
