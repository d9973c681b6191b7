import { iqSubject, requestIq, type Bus, type IqRequestEnvelope } from '@dbroker/bus';
import { parseJid } from '@dbroker/protocol';
import type { RawDb } from '@dbroker/store';
import { createCapsResolver, createPresenceStore, createRosterCache, type SendIq, type UserStateLogger } from '@dbroker/user-state';

/**
 * The PEP worker's view of users (rosters, who is online with which caps), shared by every replica in
 * Postgres. IQs it needs sent (XEP-0356 roster get, caps disco#info) go through the ingress of the
 * server the target belongs to: `<prefix>.iq.<domain of to>`.
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
}

export function createUserState(opts: UserStateOptions) {
  const sendIq: SendIq = async (env: IqRequestEnvelope) => {
    const domain = parseJid(env.to)?.domain;
    if (!domain) return { v: 1, ok: false, error: 'bad-request', reason: `not a JID: ${env.to}` };
    // The ingress answers `timeout` itself after env.timeoutMs; the extra second only covers a dead ingress.
    return requestIq(opts.nc, iqSubject(opts.subjectPrefix, domain), env, env.timeoutMs + 1_000);
  };
  const roster = createRosterCache({ db: opts.db, sendIq, ttlMs: opts.rosterTtlMs, timeoutMs: opts.iqTimeoutMs, worker: opts.worker, logger: opts.logger });
  const presence = createPresenceStore({ db: opts.db, ttlMs: opts.presenceTtlMs });
  const caps = createCapsResolver({ db: opts.db, sendIq, timeoutMs: opts.iqTimeoutMs, unverifiedTtlMs: opts.capsUnverifiedTtlMs, logger: opts.logger, worker: opts.worker });
  return { roster, presence, caps };
}

export type UserState = ReturnType<typeof createUserState>;
