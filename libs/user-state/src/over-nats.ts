import { iqSubject, requestIq, type Bus, type IqRequestEnvelope } from '@dbroker/bus';
import { parseJid } from '@dbroker/protocol';
import type { CachedRosterItem } from '@dbroker/store';
import type { RosterCache } from './roster';
import type { SendIq } from './types';

/**
 * `SendIq` over NATS: each IQ goes through the ingress of the server the target belongs to
 * (`<prefix>.iq.<domain of to>`), so one worker fleet serves many servers.
 */
export function sendIqOverNats(nc: Bus['nc'], subjectPrefix: string): SendIq {
  return async (env: IqRequestEnvelope) => {
    const domain = parseJid(env.to)?.domain;
    if (!domain) return { v: 1, ok: false, error: 'bad-request', reason: `not a JID: ${env.to}` };
    // the ingress answers `timeout` itself after env.timeoutMs; the extra second only covers a dead ingress
    return requestIq(nc, iqSubject(subjectPrefix, domain), env, env.timeoutMs + 1_000);
  };
}

export interface RosterEntry {
  jid: string;
  subscription: 'none' | 'to' | 'from' | 'both';
  groups: readonly string[];
}

/** A cached roster as access decisions read it: removed items dropped, unknown (null) = empty (fail closed). */
export function rosterEntries(items: CachedRosterItem[] | null): RosterEntry[] {
  return (items ?? []).filter((i) => i.subscription !== 'remove').map((i) => ({ jid: i.jid, subscription: i.subscription as RosterEntry['subscription'], groups: i.groups }));
}

/** The roster cache in the shape of `@dbroker/pubsub`'s `RosterLookup`. */
export function rosterLookup(cache: Pick<RosterCache, 'getRoster'>) {
  return { getRoster: async (owner: string): Promise<RosterEntry[]> => rosterEntries(await cache.getRoster(owner)) };
}
