import { context, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { outboundSubject, sendPrivilegedMessage, type Bus } from '@dbroker/bus';
import { bareJid } from '@dbroker/protocol';
import {
  announcesToAudience,
  planLastItemMessages,
  planNotifications,
  type Affiliation,
  type NotificationAudience,
  type OutgoingMessage,
  type PubsubEffect,
  type PubsubEngine,
  type StoredNode,
} from '@dbroker/pubsub';
import { buildAudience, notifyNodesOf, rosterEntries, rosterLookup } from '@dbroker/user-state';
import type { Caps } from '@dbroker/bus';
import type { UserState } from './user-state';
import { createByteBudget } from './byte-budget';

const DEFAULT_MAX_BYTES_IN_FLIGHT = 4 * 1024 * 1024;

/**
 * Delivers what the PEP engine's planners decide (XEP-0163 §4, XEP-0060 §7.1.2): notifications of a
 * request's effects, and the last published items a resource should get when it comes online. Messages
 * go out as XEP-0356 privileged messages through the ingress of the server the owner belongs to.
 *
 * Notifications are sent after the reply, never holding it: a worker that dies in between loses them
 * (at most once). Sends are bounded per replica, in tasks (NOTIFY_CONCURRENCY) and in stanza bytes not
 * yet acked (NOTIFY_MAX_BYTES_IN_FLIGHT); beyond the bounds new work waits.
 */

export interface NotifierLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface NotifierOptions {
  engine: PubsubEngine;
  userState: UserState;
  nc: Bus['nc'];
  subjectPrefix: string;
  worker: string;
  logger: NotifierLogger;
  timeoutMs: number;
  concurrency: number;
  tracer?: Tracer | undefined;
  onSent?: (kind: 'notification' | 'last-item', ok: boolean) => void;
  /** Most recipients of one notification (the owner's resources first, then subscribers, then contacts). */
  maxRecipients?: number | undefined;
  /** Notification tasks waiting for a free slot; beyond it new work is dropped (at most once anyway). Default: 10000. */
  maxQueued?: number | undefined;
  /** A notification task was dropped because `maxQueued` were waiting. */
  onDropped?: (what: string) => void;
  /**
   * UTF-8 bytes of notification stanzas sent but not yet acked by the ingress, per replica; beyond it the
   * next send waits (a single larger stanza goes alone). Default: 4 MiB.
   */
  maxBytesInFlight?: number | undefined;
  /** A notification went to fewer recipients than its audience: `leftOut` were not sent to. */
  onTruncated?: (info: { service: string; node: string; sent: number; leftOut: number }) => void;
}

export function createNotifier(opts: NotifierOptions) {
  const { engine, userState, logger } = opts;
  const roster = rosterLookup(userState.roster);
  const maxRecipients = opts.maxRecipients ?? Number.POSITIVE_INFINITY;
  const maxQueued = opts.maxQueued ?? 10_000;
  let active = 0;
  const waiting: Array<() => void> = [];
  const idle: Array<() => void> = [];

  const tracer = opts.tracer ?? trace.getTracer('@dbroker/pep');
  // One span per piece of notification work: a child of the request (or presence) that caused it, ending
  // after the reply; its SQL and sends hang under it.
  const traced = (what: string, attrs: Record<string, string>, task: () => Promise<number>) => () =>
    tracer.startActiveSpan(`pep ${what}`, { attributes: attrs }, async (span) => {
      try {
        span.setAttribute('dbroker.messages', await task());
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    });
  const run = (what: string, task: () => Promise<void>): void => {
    const start = () => {
      active++;
      task()
        .catch((err) => logger.error({ err }, `${what} failed`))
        .finally(() => {
          active--;
          waiting.shift()?.();
          if (active === 0 && waiting.length === 0) idle.splice(0).forEach((r) => r());
        });
    };
    if (active < opts.concurrency) start();
    else if (waiting.length >= maxQueued) {
      logger.warn({ what, waiting: waiting.length }, 'notification queue full: dropped');
      opts.onDropped?.(what);
    } else {
      // started later from another task's completion: keep the context of the request that caused it
      const ctx = context.active();
      waiting.push(() => context.with(ctx, start));
    }
  };

  const budget = createByteBudget(opts.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT);
  // Paced, not all at once: each message is serialised only when its bytes fit the replica's budget and
  // holds them until the ingress acks (it acks once the socket took the bytes) or the send times out. A
  // 1,000-recipient publish of a large payload becomes a stream with bounded memory here and in the ingress.
  const deliver = async (server: string, kind: 'notification' | 'last-item', messages: OutgoingMessage[], requestId?: string) => {
    const subject = outboundSubject(opts.subjectPrefix, server);
    const sends: Array<Promise<void>> = [];
    for (const m of messages) {
      const stanza = m.element.toString();
      const bytes = Buffer.byteLength(stanza);
      await budget.acquire(bytes);
      sends.push(
        sendPrivilegedMessage(opts.nc, subject, { v: 1, kind: 'message', stanza, worker: opts.worker, ...(requestId ? { requestId } : {}) }, opts.timeoutMs)
          .then((ack) => {
            opts.onSent?.(kind, ack.ok);
            if (!ack.ok) logger.warn({ to: m.to, error: ack.error, reason: ack.reason, requestId }, `${kind} not sent`);
          })
          .finally(() => budget.release(bytes)),
      );
    }
    await Promise.all(sends);
  };

  const affiliationMap = async (owner: string, node: string): Promise<Map<string, Affiliation>> => {
    const res = await engine.getAffiliations(owner, node, owner);
    return new Map(res.ok ? res.value.map((a) => [bareJid(a.jid) ?? a.jid, a.affiliation as Affiliation]) : []);
  };

  const audienceFor = async (effect: PubsubEffect): Promise<NotificationAudience & { truncated: number }> => {
    const owner = effect.service;
    const cached = await userState.roster.getRoster(owner);
    const [who, members] = await Promise.all([
      buildAudience({ owner, roster: { getRoster: async () => cached }, presence: userState.presence, caps: userState.caps, maxResources: maxRecipients }),
      // a deleted node's subscribers travel in the effect; its members are gone with it
      effect.type === 'node-deleted' ? Promise.resolve(undefined) : engine.nodeMembers(owner, effect.node),
    ]);
    return {
      ownerResources: who.ownerResources,
      contacts: who.contacts,
      subscribers: (members?.subscriptions ?? []).map((s) => ({ jid: s.jid, subid: s.subid })),
      roster: rosterEntries(cached),
      affiliations: new Map((members?.affiliations ?? []).map((a) => [a.jid, a.affiliation as Affiliation])),
      truncated: who.truncated,
    };
  };

  const lastItemsFor = async (fullJid: string, caps: Caps | undefined): Promise<OutgoingMessage[]> => {
    if (!caps) return [];
    const notifyNodes = notifyNodesOf(await userState.caps.features(fullJid, caps));
    if (notifyNodes.size === 0) return [];
    const contact = bareJid(fullJid);
    if (!contact) return [];
    // whose nodes this resource may follow: its own, and those of accounts whose presence it receives
    const own = (await userState.roster.getRoster(contact)) ?? [];
    const owners = [contact, ...own.filter((i) => i.subscription === 'to' || i.subscription === 'both').map((i) => i.jid)];
    const out: OutgoingMessage[] = [];
    for (const owner of new Set(owners)) {
      const nodes: StoredNode[] = (await engine.readableNodes(owner, contact)).filter((n) => notifyNodes.has(n.node) && n.config.send_last_published_item === 'on_sub_and_presence');
      if (nodes.length === 0) continue;
      const entry = owner === contact ? undefined : (await roster.getRoster(owner)).find((i) => i.jid === contact);
      const withItems = await Promise.all(
        nodes.map(async (n) => {
          const items = await engine.getItems(owner, n.node, contact, { maxItems: 1 });
          return { node: n.node, config: n.config, lastItem: items.ok ? items.value.items[0] : undefined };
        }),
      );
      const affiliations = new Map(await Promise.all(nodes.filter((n) => n.config.access_model === 'whitelist').map(async (n) => [n.node, await affiliationMap(owner, n.node)] as const)));
      out.push(
        ...planLastItemMessages({
          owner,
          contact: { fullJid, subscription: entry?.subscription ?? 'none', groups: entry?.groups ?? [], notifyNodes },
          nodes: withItems,
          affiliations,
        }),
      );
    }
    return out;
  };

  return {
    /** Notifies what a request changed; returns at once. */
    onEffects(server: string, requestId: string, effects: PubsubEffect[]): void {
      for (const effect of effects) {
        // only a new subscription (its last item) or an announcement to the node's audience sends anything
        if (effect.type !== 'subscribed' && !announcesToAudience(effect)) continue;
        run(
          'notification',
          traced('notify', { 'dbroker.effect': effect.type, 'pubsub.node': effect.node }, async () => {
            const audience = effect.type === 'subscribed' ? { ownerResources: [], subscribers: [], contacts: [], truncated: 0 } : await audienceFor(effect);
            const planned = planNotifications(effect, audience);
            // bounded fan-out: the first recipients in plan order (owner, subscribers, contacts)
            const messages = planned.length > maxRecipients ? planned.slice(0, maxRecipients) : planned;
            const leftOut = planned.length - messages.length + audience.truncated;
            if (leftOut > 0) {
              logger.warn({ requestId, service: effect.service, node: effect.node, sent: messages.length, leftOut, maxRecipients }, 'notification audience over the recipient limit: truncated');
              opts.onTruncated?.({ service: effect.service, node: effect.node, sent: messages.length, leftOut });
            }
            if (messages.length > 0) await deliver(server, 'notification', messages, requestId);
            logger.debug({ requestId, effect: effect.type, node: effect.node, recipients: messages.length }, 'notified');
            return messages.length;
          }),
        );
      }
    },
    /** Sends the last published items a resource wants when it becomes available (XEP-0163 §4.3.3). */
    onInitialPresence(server: string, fullJid: string, caps: Caps | undefined): void {
      run(
        'last items',
        traced('last items', { 'xmpp.from': fullJid }, async () => {
          const planned = await lastItemsFor(fullJid, caps);
          // one resource coming online gets at most as many messages as one notification has recipients
          const messages = planned.length > maxRecipients ? planned.slice(0, maxRecipients) : planned;
          if (messages.length < planned.length) {
            logger.warn({ fullJid, sent: messages.length, leftOut: planned.length - messages.length, maxRecipients }, 'last items on presence over the recipient limit: truncated');
            opts.onTruncated?.({ service: bareJid(fullJid) ?? fullJid, node: '', sent: messages.length, leftOut: planned.length - messages.length });
          }
          if (messages.length > 0) await deliver(server, 'last-item', messages);
          logger.debug({ fullJid, sent: messages.length }, 'last items on presence');
          return messages.length;
        }),
      );
    },
    /** Resolves when no notification work is pending. */
    async idle(): Promise<void> {
      if (active === 0 && waiting.length === 0) return;
      await new Promise<void>((r) => idle.push(r));
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
