import { randomBytes } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import {
  ProtocolError,
  buildPrivilegedMessage,
  checkPrivilegedOutbound,
  parseErrorElement,
  parseXml,
  type StanzaErrorCondition,
} from '@dbroker/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeOutbound, encodeEnvelope, type EventPublisher, type OutboundAck, type OutboundError } from '@dbroker/bus';
import { createLinkSubscription, type LinkSubscription } from './link-subscription';
import { checkProductMessage } from './outbound-content';
import type { IngressMetrics } from './metrics';
import { messagePermissionHint, type PrivilegeState } from './privileges';
import type { LinkLogger, LinkStatus } from './xmpp-link';

export interface OutboundDeps {
  serverDomain: string;
  componentDomain: string;
  maxStanzaBytes: number;
  privileges: PrivilegeState;
  link: { status(): LinkStatus; write(el: Element): Promise<void> };
  events: EventPublisher;
  logger: LinkLogger;
  metrics: IngressMetrics;
  /**
   * Bytes of outbound requests written to the link whose socket write has not completed; beyond it a new
   * one is refused as `offline` (one larger request goes alone). The PEP notifier paces itself on the acks;
   * this bounds the ingress when the server stops reading (a sender's ack timeout frees its budget while the
   * bytes are still here). Default: unbounded.
   */
  maxBytesInFlight?: number;
  /** Sent privileged messages remembered to explain the server's error replies (default 1024). */
  maxRemembered?: number;
}

interface Sent {
  from: string;
  to: string;
  worker: string;
  requestId?: string;
}

interface RefusalContext {
  from?: string | undefined;
  to?: string | undefined;
  worker?: string | undefined;
  requestId?: string | undefined;
}

export interface OutboundHandler {
  /**
   * Handles one outbound request (an OutboundEnvelope as NATS data) and resolves with its ack. The stanza
   * is handed to the link synchronously, before this function first awaits: requests handled in order are
   * written in order. Never rejects.
   */
  handle(data: Uint8Array): Promise<OutboundAck>;
  /** A `<message type='error'>` from the server: true when it answers a privileged message of ours (logged, audited). */
  onServerError(msg: Element): boolean;
  /** The stream ended: forget per-stream state (sent ids, one-time warnings). */
  resetStream(): void;
}

const ERROR_OF_CONDITION: Partial<Record<StanzaErrorCondition, OutboundError>> = {
  forbidden: 'forbidden',
  'not-allowed': 'not-allowed',
};

/**
 * The outbound path for XEP-0356 privileged messages (protocol-notes §2): a worker's `<message from=bare
 * local JID>` is validated, must be one the product sends (outbound-content.ts), is checked against the permission the server advertised on this stream, wrapped
 * in the privilege version the server spoke and written to the component link. Every refusal is logged,
 * counted and audited (`privilege.refused`).
 */
export function createOutboundHandler(deps: OutboundDeps): OutboundHandler {
  const { logger, metrics, events } = deps;
  const maxRemembered = deps.maxRemembered ?? 1024;
  const idPrefix = `priv-${randomBytes(4).toString('hex')}`;
  let seq = 0;
  const sent = new Map<string, Sent>();
  const warnedOnce = new Set<OutboundError>();
  const maxBytesInFlight = deps.maxBytesInFlight ?? Number.POSITIVE_INFINITY;
  let bytesInFlight = 0;

  const refuse = (error: OutboundError, reason: string, ctx: RefusalContext): OutboundAck => {
    metrics.privilegedMessages.inc({ outcome: error });
    const details = { error, reason, from: ctx.from, to: ctx.to, worker: ctx.worker, requestId: ctx.requestId };
    // A missing permission or a lost link refuses every message until it changes: one warning per stream
    // (with what to configure), the rest at debug. Malformed or hostile stanzas are each worth a warning.
    if (error === 'no-permission' || error === 'offline') {
      if (!warnedOnce.has(error)) {
        warnedOnce.add(error);
        const hint = error === 'no-permission' ? messagePermissionHint(deps.serverDomain, deps.componentDomain) : undefined;
        logger.warn({ ...details, ...(hint ? { hint } : {}) }, 'privileged message refused');
      } else {
        logger.debug(details, 'privileged message refused');
      }
    } else {
      logger.warn(details, 'privileged message refused');
    }
    events.emit({
      type: 'privilege.refused',
      reason,
      error,
      ...(ctx.from !== undefined ? { from: ctx.from } : {}),
      ...(ctx.to !== undefined ? { to: ctx.to } : {}),
      ...(ctx.worker !== undefined ? { worker: ctx.worker } : {}),
      ...(ctx.requestId !== undefined ? { requestId: ctx.requestId } : {}),
    });
    return { v: 1, ok: false, error, reason };
  };

  const remember = (id: string, s: Sent) => {
    sent.set(id, s);
    if (sent.size > maxRemembered) sent.delete(sent.keys().next().value as string);
  };

  async function handle(data: Uint8Array): Promise<OutboundAck> {
    const decoded = decodeOutbound(data);
    if (!decoded.ok) return refuse('bad-request', decoded.reason, {});
    const env = decoded.value;
    const base: RefusalContext = { worker: env.worker, requestId: env.requestId };

    let stanza: Element;
    try {
      stanza = parseXml(env.stanza, { maxBytes: deps.maxStanzaBytes });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return refuse('bad-request', `stanza: ${err.message}`, base);
    }
    const addressed: RefusalContext = { ...base, from: stanza.attrs.from, to: stanza.attrs.to };
    const checked = checkPrivilegedOutbound(stanza, { serverDomain: deps.serverDomain });
    if (!checked.ok) return refuse(ERROR_OF_CONDITION[checked.condition] ?? 'bad-request', checked.reason, addressed);
    const inner = checked.value;
    const product = checkProductMessage(inner);
    if (!product.ok) return refuse('forbidden', `privileged message: ${product.reason}`, addressed);

    const status = deps.link.status();
    if (status !== 'online') return refuse('offline', `the component link is ${status}`, addressed);
    const adv = deps.privileges.get();
    if (!adv) {
      return refuse('no-permission', 'the server has not advertised any XEP-0356 privilege on this stream (mod_privilege not loaded, or the component is not a privileged entity)', addressed);
    }
    if (adv.perms.message !== 'outgoing') {
      return refuse('no-permission', `the server granted message='${adv.perms.message}', not 'outgoing' (${adv.version})`, addressed);
    }

    if (bytesInFlight > 0 && bytesInFlight + data.length > maxBytesInFlight) {
      return refuse('offline', `the component link is not taking bytes fast enough: ${bytesInFlight} bytes of privileged messages wait for the socket (OUTBOUND_MAX_BYTES_IN_FLIGHT ${maxBytesInFlight})`, addressed);
    }

    const id = `${idPrefix}-${++seq}`;
    const wrapper = buildPrivilegedMessage(adv.version, { componentDomain: deps.componentDomain, serverDomain: deps.serverDomain, id }, inner);
    const record: Sent = { from: inner.attrs.from!, to: inner.attrs.to!, worker: env.worker, ...(env.requestId ? { requestId: env.requestId } : {}) };
    // Synchronous up to here: the wrapper reaches the socket in the order the requests arrived.
    const written = deps.link.write(wrapper);
    remember(id, record);
    bytesInFlight += data.length;
    try {
      await written;
    } catch (err) {
      sent.delete(id);
      return refuse('offline', (err as Error).message, addressed);
    } finally {
      bytesInFlight -= data.length;
    }
    metrics.privilegedMessages.inc({ outcome: 'sent' });
    logger.debug({ id, ...record, version: adv.version }, 'privileged message sent');
    return { v: 1, ok: true };
  }

  return {
    handle(data) {
      return handle(data).catch((err: unknown) => refuse('bad-request', `internal error: ${(err as Error).message}`, {}));
    },
    onServerError(msg) {
      const id = msg.attrs.id;
      if (msg.attrs.type !== 'error' || id === undefined || msg.attrs.from !== deps.serverDomain) return false;
      const s = sent.get(id);
      if (!s) return false;
      sent.delete(id);
      const { condition, text } = parseErrorElement(msg) ?? { condition: 'undefined-condition', text: undefined };
      const reason = `the server refused the privileged message: ${condition}${text ? ` (${text})` : ''}`;
      metrics.privilegedMessages.inc({ outcome: 'server-error' });
      logger.warn(
        { id, condition, ...s, ...(condition === 'forbidden' ? { hint: messagePermissionHint(deps.serverDomain, deps.componentDomain) } : {}) },
        'privileged message refused by the server',
      );
      events.emit({ type: 'privilege.refused', reason, from: s.from, to: s.to, worker: s.worker, ...(s.requestId ? { requestId: s.requestId } : {}) });
      return true;
    },
    resetStream() {
      sent.clear();
      warnedOnce.clear();
    },
  };
}

/**
 * The NATS side of the outbound path (see createLinkSubscription): subscribed while the link is online,
 * each request written before the next is read.
 */
export function createOutboundSubscription({ nc, subject, handler, logger }: { nc: NatsConnection; subject: string; handler: OutboundHandler; logger: LinkLogger }): LinkSubscription {
  return createLinkSubscription<OutboundAck>({ nc, subject, handle: (data) => handler.handle(data), encode: encodeEnvelope, logger, what: 'outbound stanzas' });
}
