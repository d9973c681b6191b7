import { randomBytes } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { CLIENT_NS, buildUserIq, checkUserIqTarget, cloneElement, iqResponseFromMatches, isIqResponse, type UserIqKind } from '@dbroker/protocol';
import { decodeIqRequest, type EventPublisher, type IqRequestError, type IqResponseEnvelope } from '@dbroker/bus';
import type { IngressMetrics } from './metrics';
import { rosterPermissionHint, type PrivilegeState } from './privileges';
import type { LinkLogger, LinkStatus } from './xmpp-link';

export interface UserIqDeps {
  serverDomain: string;
  componentDomain: string;
  privileges: PrivilegeState;
  link: { status(): LinkStatus; write(el: Element): Promise<void> };
  events: EventPublisher;
  logger: LinkLogger;
  metrics: IngressMetrics;
  /** Largest answer that fits a NATS message (the server's max_payload minus room for headers). */
  maxResponseBytes: number;
}

export interface UserIqHandler {
  /** One IqRequestEnvelope (NATS data) → its answer, exactly once. Never rejects. */
  handle(data: Uint8Array): Promise<IqResponseEnvelope>;
  /**
   * An `<iq type='result'|'error'>` from the server: true when its id is one of ours (then it is
   * consumed, matched or not). A response from another sender than the one asked does not complete the
   * request (logged and counted); the real answer may still come.
   */
  onResponse(iq: Element): boolean;
  /** The link went down: every pending request is answered `offline`; per-stream warnings reset. */
  resetStream(): void;
  pending(): number;
}

interface Pending {
  kind: UserIqKind;
  to: string;
  worker: string;
  started: number;
  timer: NodeJS.Timeout;
  resolve: (res: IqResponseEnvelope) => void;
}

interface Ctx {
  kind?: UserIqKind | undefined;
  to?: string | undefined;
  worker?: string | undefined;
}

/**
 * IQs workers need sent to read shared user state (protocol-notes §2): the XEP-0356 privileged roster
 * get of a local user (needs the roster permission `get` or `both` on this stream) and disco#info to a
 * full JID for XEP-0115 caps. The ingress builds the stanza from the kind, sends it from the component's
 * JID with an id of its own, matches the response by id AND sender, and answers the worker exactly once:
 * the response, `timeout` after `timeoutMs`, or `offline` when the link drops first.
 */
export function createUserIqHandler(deps: UserIqDeps): UserIqHandler {
  const { logger, metrics, events } = deps;
  const ctx = { serverDomain: deps.serverDomain, componentDomain: deps.componentDomain };
  const idPrefix = `uiq-${randomBytes(4).toString('hex')}`;
  let seq = 0;
  const pending = new Map<string, Pending>();
  const warnedOnce = new Set<IqRequestError>();

  const refuse = (error: IqRequestError, reason: string, c: Ctx): IqResponseEnvelope => {
    metrics.userIqs.inc({ kind: c.kind ?? 'unknown', outcome: error });
    const details = { error, reason, kind: c.kind, to: c.to, worker: c.worker };
    // A missing permission or a lost link refuses every request until it changes: one warning per stream
    // (naming what to configure), the rest at debug. Malformed or hostile requests each get a warning.
    if (error === 'no-permission' || error === 'offline') {
      if (!warnedOnce.has(error)) {
        warnedOnce.add(error);
        const hint = error === 'no-permission' ? rosterPermissionHint(deps.serverDomain, deps.componentDomain) : undefined;
        logger.warn({ ...details, ...(hint ? { hint } : {}) }, 'worker iq refused');
      } else logger.debug(details, 'worker iq refused');
    } else logger.warn(details, 'worker iq refused');
    if (error === 'forbidden' || error === 'no-permission' || error === 'bad-request') {
      events.emit({
        type: 'iq.refused',
        reason,
        error,
        ...(c.kind !== undefined ? { kind: c.kind } : {}),
        ...(c.to !== undefined ? { to: c.to } : {}),
        ...(c.worker !== undefined ? { worker: c.worker } : {}),
      });
    }
    return { v: 1, ok: false, error, reason };
  };

  /** Answers a pending request once: the first settle wins, later ones find nothing. */
  const settle = (id: string, res: IqResponseEnvelope, outcome: string): void => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    clearTimeout(p.timer);
    metrics.userIqs.inc({ kind: p.kind, outcome });
    const details = { id, kind: p.kind, to: p.to, worker: p.worker, outcome, ms: Date.now() - p.started };
    if (outcome === 'offline' && !warnedOnce.has('offline')) {
      warnedOnce.add('offline');
      logger.warn({ ...details, reason: res.ok ? undefined : res.reason }, 'worker iq failed');
    } else logger.debug(details, 'worker iq answered');
    p.resolve(res);
  };

  async function handle(data: Uint8Array): Promise<IqResponseEnvelope> {
    const decoded = decodeIqRequest(data);
    if (!decoded.ok) return refuse('bad-request', decoded.reason, {});
    const env = decoded.value;
    const c: Ctx = { kind: env.kind, to: env.to, worker: env.worker };
    const target = checkUserIqTarget(env.kind, env.to, ctx);
    if (!target.ok) return refuse(target.condition === 'forbidden' ? 'forbidden' : 'bad-request', target.reason, c);
    const to = target.value;

    const status = deps.link.status();
    if (status !== 'online') return refuse('offline', `the component link is ${status}`, c);
    if (env.kind === 'roster-get') {
      const adv = deps.privileges.get();
      if (!adv) {
        return refuse('no-permission', 'the server has not advertised any XEP-0356 privilege on this stream (mod_privilege not loaded, or the component is not a privileged entity)', c);
      }
      if (adv.perms.roster !== 'get' && adv.perms.roster !== 'both') {
        return refuse('no-permission', `the server granted roster='${adv.perms.roster}', not 'get' or 'both' (${adv.version})`, c);
      }
    }

    const id = `${idPrefix}-${++seq}`;
    const node = env.kind === 'disco-info' ? env.node : undefined;
    const iq = buildUserIq({ kind: env.kind, to, id, componentDomain: deps.componentDomain, ...(node !== undefined ? { node } : {}) });
    const answer = new Promise<IqResponseEnvelope>((resolve) => {
      const timer = setTimeout(
        () => settle(id, { v: 1, ok: false, error: 'timeout', reason: `${to} did not answer the ${env.kind} within ${env.timeoutMs} ms` }, 'timeout'),
        env.timeoutMs,
      );
      pending.set(id, { kind: env.kind, to, worker: env.worker, started: Date.now(), timer, resolve });
    });
    try {
      await deps.link.write(iq);
    } catch (err) {
      settle(id, { v: 1, ok: false, error: 'offline', reason: (err as Error).message }, 'offline');
    }
    return answer;
  }

  return {
    handle(data) {
      return handle(data).catch((err: unknown) => refuse('bad-request', `internal error: ${(err as Error).message}`, {}));
    },
    onResponse(iq) {
      if (!isIqResponse(iq)) return false;
      const id = iq.attrs.id!;
      const p = pending.get(id);
      if (!p) return false;
      if (!iqResponseFromMatches(iq, p.to)) {
        metrics.rejectedStanzas.inc({ reason: 'iq-response-sender' });
        logger.warn({ id, from: iq.attrs.from, expected: p.to, kind: p.kind }, 'iq response from another sender than the one asked: ignored');
        return true;
      }
      const copy = cloneElement(iq);
      copy.attrs.xmlns = CLIENT_NS;
      const stanza = copy.toString();
      const bytes = Buffer.byteLength(stanza, 'utf8');
      if (bytes > deps.maxResponseBytes) {
        settle(id, { v: 1, ok: false, error: 'bad-request', reason: `the ${p.kind} answer of ${p.to} is ${bytes} bytes, over the ${deps.maxResponseBytes}-byte NATS limit` }, 'too-large');
        return true;
      }
      settle(id, { v: 1, ok: true, stanza }, iq.attrs.type === 'error' ? 'error' : 'result');
      return true;
    },
    resetStream() {
      for (const id of [...pending.keys()]) settle(id, { v: 1, ok: false, error: 'offline', reason: 'the component link went down before the answer came' }, 'offline');
      warnedOnce.clear();
    },
    pending: () => pending.size,
  };
}
