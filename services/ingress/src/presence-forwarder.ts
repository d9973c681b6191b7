import type { Element } from '@xmpp/xml';
import { parseForwardedPresence } from '@dbroker/protocol';
import { encodeStateEnvelope, type PresenceEnvelope } from '@dbroker/bus';
import type { IngressMetrics } from './metrics';
import type { PrivilegeState } from './privileges';
import type { LinkLogger } from './xmpp-link';

export interface PresenceForwarderDeps {
  serverDomain: string;
  componentDomain: string;
  /** presenceSubject(prefix, serverDomain). */
  subject: string;
  /** Core NATS publish (fire and forget); throws when the connection is closed. */
  publish: (subject: string, data: Uint8Array) => void;
  privileges: PrivilegeState;
  logger: LinkLogger;
  metrics: IngressMetrics;
  now?: () => Date;
}

/**
 * Presences the server sends the component (XEP-0356 `presence` permission) become PresenceEnvelopes on
 * `<prefix>.presence.<domain>`. Who may tell us a presence:
 * - a user of XMPP_SERVER, from a full JID (the server stamps `from`, so it is the user's own presence,
 *   whether forwarded by the privilege or directed at the component);
 * - an entity of another domain only when the server granted `presence='roster'` on this stream (it then
 *   forwards the presences of the users' remote contacts);
 * - nobody else (the server or component domain, a local bare JID, other domains without that grant):
 *   dropped with a warning (once per sender and stream, then debug) and counted. Types other than available/unavailable are ignored (debug).
 * Presences come often: one debug line each, no audit event.
 */
export function createPresenceForwarder(deps: PresenceForwarderDeps) {
  const { logger, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  let publishFailures = 0;
  // A sender that keeps sending presences we drop (a remote user's directed presences, say) gets one
  // warning per stream; the rest go to debug (all are counted).
  const warned = new Set<string>();
  const MAX_WARNED = 1000;
  return {
    onPresence(el: Element): void {
      const acceptRemote = deps.privileges.get()?.perms.presence === 'roster';
      const parsed = parseForwardedPresence(el, { serverDomain: deps.serverDomain, componentDomain: deps.componentDomain, acceptRemote });
      if (!parsed.ok) {
        metrics.presences.inc({ outcome: parsed.kind });
        const details = { from: el.attrs.from?.slice(0, 300), type: el.attrs.type, reason: parsed.reason };
        const sender = String(el.attrs.from);
        if (parsed.kind !== 'ignored' && !warned.has(sender) && warned.size < MAX_WARNED) {
          warned.add(sender);
          logger.warn(details, 'presence dropped');
        } else logger.debug(details, parsed.kind === 'ignored' ? 'presence ignored' : 'presence dropped');
        return;
      }
      const p = parsed.value;
      const env: PresenceEnvelope = {
        v: 1,
        server: deps.serverDomain,
        from: p.from,
        available: p.available,
        ...(p.caps ? { caps: p.caps } : {}),
        delayed: p.delayed,
        receivedAt: now().toISOString(),
      };
      try {
        deps.publish(deps.subject, encodeStateEnvelope(env));
      } catch (err) {
        metrics.presences.inc({ outcome: 'publish-failed' });
        if (publishFailures++ % 100 === 0) logger.warn({ err, from: p.from, failures: publishFailures }, 'presence could not be published');
        return;
      }
      publishFailures = 0;
      metrics.presences.inc({ outcome: 'forwarded' });
      logger.debug({ from: p.from, available: p.available, delayed: p.delayed, caps: p.caps?.ver }, 'presence forwarded');
    },
    /** The stream ended: warn again about senders whose presences are dropped. */
    resetStream(): void {
      warned.clear();
    },
  };
}
