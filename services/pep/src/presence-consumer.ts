import { decodePresence, presenceSubjectAnyDomain, type Bus } from '@dbroker/bus';
import type { PresenceStore } from '@dbroker/user-state';
import type { Notifier, NotifierLogger } from './notifier';

/**
 * Keeps the shared presence state (Postgres) from the presences the ingress forwards, in the worker
 * kind's queue group (each presence is applied by one replica), and sends the last published items a
 * resource wants when it comes online. Presences are applied with bounded concurrency; their order per
 * resource is kept by the store itself (a presence older than the stored one is ignored).
 */
export function startPresenceConsumer(opts: { nc: Bus['nc']; subjectPrefix: string; queue: string; presence: PresenceStore; notifier: Notifier; logger: NotifierLogger; concurrency: number; onApplied?: (kind: string) => void }) {
  const sub = opts.nc.subscribe(presenceSubjectAnyDomain(opts.subjectPrefix), { queue: opts.queue });
  const inflight = new Set<Promise<void>>();
  const done = (async () => {
    for await (const msg of sub) {
      let decoded: ReturnType<typeof decodePresence>;
      try {
        decoded = decodePresence(msg.data);
      } catch (err) {
        opts.logger.error({ err, subject: msg.subject }, 'presence envelope could not be read; dropped');
        continue;
      }
      if (!decoded.ok) {
        opts.logger.warn({ subject: msg.subject, reason: decoded.reason }, 'invalid presence envelope dropped');
        continue;
      }
      const env = decoded.value;
      while (inflight.size >= opts.concurrency) await Promise.race(inflight);
      const p: Promise<void> = opts.presence
        .applyPresence(env)
        .then((outcome) => {
          opts.onApplied?.(outcome.kind);
          // a delayed presence is the server replaying sessions after the component (re)connected: those
          // resources got their last items when they logged in
          if (outcome.kind === 'initial' && !outcome.delayed) opts.notifier.onInitialPresence(env.server, outcome.fullJid, outcome.caps);
        })
        .catch((err) => opts.logger.error({ err, from: env.from }, 'presence not applied'))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })();
  return {
    async stop(): Promise<void> {
      await sub.drain();
      await done;
      await Promise.all(inflight);
    },
  };
}
