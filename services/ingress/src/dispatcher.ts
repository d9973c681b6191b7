import type { Element } from '@xmpp/xml';
import {
  DELEGATION_NS_1,
  DELEGATION_NS_2,
  StanzaError,
  buildDiscoInfoResult,
  buildIqError,
  buildIqResult,
  parseGrantAdvertisement,
  parsePrivilegeAdvertisement,
  privilegeVersionOf,
  rejectionError,
  replyToRejected,
  wrapBrokenRequestError,
  delegationVersionOf,
  type DelegationVersion,
  type PrivilegeVersion,
  type RejectedStanza,
  type StanzaErrorCondition,
} from '@dbroker/protocol';
import type { EventPublisher } from '@dbroker/bus';
import type { GrantTable } from './grants';
import type { IngressMetrics } from './metrics';
import { messagePermissionHint, presencePermissionHint, type PrivilegeState } from './privileges';
import type { LinkLogger } from './xmpp-link';
import type { createDiscoResponder } from './disco-responder';

export interface DispatcherDeps {
  serverDomain: string;
  componentDomain: string;
  grants: GrantTable;
  privileges: PrivilegeState;
  send: (el: Element) => void;
  /** A `<message type='error'>`: true when the outbound path recognised it as an answer to one of its messages. */
  onMessageError?: (msg: Element) => boolean;
  handleForwarded: (outer: Element) => void;
  /** An `<iq type='result'|'error'>`: true when it answers one of the IQs sent for workers (routed there first). */
  onIqResponse?: (iq: Element) => boolean;
  /** Every `<presence/>` of the stream (the presence path filters and forwards it). */
  onPresence?: (presence: Element) => void;
  /** The delegation / privilege version of an accepted advertisement (per-stream protocol report). */
  onDelegationVersion?: (version: DelegationVersion) => void;
  onPrivilegeVersion?: (version: PrivilegeVersion) => void;
  disco: ReturnType<typeof createDiscoResponder>;
  events: EventPublisher;
  logger: LinkLogger;
  metrics: IngressMetrics;
}

/** Routes every inbound stanza of the component stream to the one place that handles it. */
export function createDispatcher(deps: DispatcherDeps) {
  const { logger, events, metrics, send } = deps;
  const ctx = { serverDomain: deps.serverDomain, componentDomain: deps.componentDomain };

  const sendError = (iq: Element, err: StanzaError) => {
    const reply = buildIqError(iq, err);
    if (reply) send(reply);
  };

  const onAdvertisement = (msg: Element) => {
    const parsed = parseGrantAdvertisement(msg, ctx);
    if (!parsed.ok) {
      logger.warn({ from: msg.attrs.from, reason: parsed.reason }, 'delegation advertisement rejected');
      metrics.rejectedStanzas.inc({ reason: 'advertisement' });
      events.emit({ type: 'advertisement.rejected', from: msg.attrs.from ?? '', reason: parsed.reason });
      return;
    }
    const { version, grants } = parsed.value;
    // Prosody (v2) advertises its whole set in one message; ejabberd (v1) one namespace per message.
    const replace = version === DELEGATION_NS_2;
    deps.grants.apply(grants, replace);
    deps.disco.invalidate();
    logger.info({ version, replace, grants: grants.map((g) => g.namespace) }, 'delegation granted');
    deps.onDelegationVersion?.(version);
    events.emit({ type: 'grant.advertised', version, replace, grants: grants.map((g) => ({ namespace: g.namespace, attributes: g.attributes })) });
  };

  const onPrivilegeAdvertisement = (msg: Element) => {
    const parsed = parsePrivilegeAdvertisement(msg, ctx);
    if (!parsed.ok) {
      logger.warn({ from: msg.attrs.from, reason: parsed.reason }, 'privilege advertisement rejected');
      metrics.rejectedStanzas.inc({ reason: 'privilege-advertisement' });
      events.emit({ type: 'advertisement.rejected', from: msg.attrs.from ?? '', reason: parsed.reason });
      return;
    }
    const { version, perms } = parsed.value;
    // Both servers advertise the complete set at once (Prosody only what is granted, ejabberd everything).
    deps.privileges.apply(parsed.value);
    logger.info({ version, perms }, 'privileges advertised');
    if (perms.message !== 'outgoing') {
      logger.warn(
        { version, message: perms.message, hint: messagePermissionHint(deps.serverDomain, deps.componentDomain) },
        'no outgoing message privilege: workers cannot send messages on behalf of users (PEP notifications, MAM results)',
      );
    }
    if (perms.presence === 'none') {
      logger.warn(
        { version, presence: perms.presence, hint: presencePermissionHint(deps.serverDomain, deps.componentDomain) },
        'no presence privilege: the server sends the component no presences of its users (PEP +notify and last items on login need them)',
      );
    }
    events.emit({ type: 'privilege.advertised', version, perms });
    deps.onPrivilegeVersion?.(version);
  };

  const onBroken = (outer: Element, reason: string, condition: StanzaErrorCondition) => {
    metrics.rejectedStanzas.inc({ reason: condition });
    const version = delegationVersionOf(outer) ?? undefined;
    const err = new StanzaError(condition, { type: condition === 'internal-server-error' ? 'wait' : 'cancel' });
    const wrapped = version && outer.attrs.from === deps.serverDomain ? wrapBrokenRequestError(outer, version, err, ctx) : null;
    // A stanza that is not a usable delegation (or not from the server at all) gets a plain RFC 6120 error.
    const reply = wrapped ?? buildIqError(outer, err);
    if (reply) send(reply);
    logger.warn({ from: outer.attrs.from, id: outer.attrs.id, reason, condition }, 'forwarded iq rejected');
    events.emit({ type: 'request.rejected', reason, condition, ...(outer.attrs.from ? { from: outer.attrs.from } : {}) });
  };

  const onIq = (iq: Element) => {
    const type = iq.attrs.type;
    if (type === 'result' || type === 'error') {
      // Answers to IQs sent for workers (matched by id and sender); keep-alive pongs are taken by the link.
      if (deps.onIqResponse?.(iq)) return;
      logger.debug({ from: iq.attrs.from, id: iq.attrs.id, type }, 'ignoring unexpected iq response');
      return;
    }
    if (type === 'set' && delegationVersionOf(iq)) return deps.handleForwarded(iq);
    if (type !== 'get' && type !== 'set') return; // RFC 6120 §8.2.3: never answer a malformed iq type with an error loop
    if (deps.disco.matches(iq)) {
      if (iq.attrs.from !== deps.serverDomain) return sendError(iq, new StanzaError('forbidden', { type: 'auth' }));
      void deps.disco.answer(iq).then(send, (err: unknown) => {
        logger.error({ err }, 'disco nesting answer failed');
        sendError(iq, new StanzaError('internal-server-error', { type: 'wait' }));
      });
      return;
    }
    const first = iq.getChildElements()[0];
    if (type === 'get' && first?.is('ping', 'urn:xmpp:ping')) return send(buildIqResult(iq));
    if (type === 'get' && first?.is('query', 'http://jabber.org/protocol/disco#info') && !first.attrs.node) {
      return send(
        buildDiscoInfoResult(iq, {
          identities: [{ category: 'component', type: 'generic', name: 'delegation-broker' }],
          features: ['http://jabber.org/protocol/disco#info', 'urn:xmpp:ping', DELEGATION_NS_2, DELEGATION_NS_1],
        }),
      );
    }
    sendError(iq, new StanzaError('service-unavailable', { type: 'cancel' }));
  };

  const onMessage = (msg: Element) => {
    if (msg.attrs.type === 'error') {
      if (deps.onMessageError?.(msg)) return;
      logger.debug({ from: msg.attrs.from, id: msg.attrs.id }, 'ignoring error message');
      return;
    }
    if (delegationVersionOf(msg)) return onAdvertisement(msg);
    if (privilegeVersionOf(msg)) return onPrivilegeAdvertisement(msg);
    logger.debug({ from: msg.attrs.from }, 'ignoring message');
  };

  /** A stanza the stream parser refused (over a parsing limit): answered, logged, counted, audited. */
  const onRejected = (rejected: RejectedStanza) => {
    const s = rejected.stanza;
    metrics.rejectedStanzas.inc({ reason: rejected.code });
    const answer = replyToRejected(rejected, ctx);
    if (answer.kind === 'wrapped' || answer.kind === 'iq-error') send(answer.reply);
    // A response over the limit fails the worker request waiting for it at once instead of at its timeout.
    else if (answer.kind === 'response') deps.onIqResponse?.(answer.asError);
    const inner = s.getChild('delegation')?.getChild('forwarded')?.getChild('iq');
    logger.warn(
      { name: rejected.name, from: s.attrs.from, id: s.attrs.id, type: s.attrs.type, innerFrom: inner?.attrs.from, code: rejected.code, reason: rejected.reason, answer: answer.kind },
      'inbound stanza over a parsing limit: skipped',
    );
    const condition = rejectionError(rejected).condition;
    events.emit({
      type: 'request.rejected',
      reason: `${rejected.code}: ${rejected.reason}`,
      condition,
      ...(inner?.attrs.from ? { from: inner.attrs.from } : s.attrs.from ? { from: s.attrs.from } : {}),
      ...(inner?.attrs.to ? { to: inner.attrs.to } : {}),
      ...(inner?.attrs.type ? { iqType: inner.attrs.type } : {}),
    });
  };

  return {
    onBroken,
    onRejected,
    dispatch(el: Element): void {
      try {
        if (el.name === 'iq') onIq(el);
        else if (el.name === 'message') onMessage(el);
        else if (el.name === 'presence') deps.onPresence?.(el);
      } catch (err) {
        // Only attributes here: the stanza passed the parsing limits, but a handler just failed on it.
        logger.error({ err, name: el.name, from: el.attrs.from, id: el.attrs.id, type: el.attrs.type }, 'stanza handling failed');
        try {
          if (el.name === 'iq' && el.attrs.type === 'set' && delegationVersionOf(el)) onBroken(el, `internal error: ${(err as Error)?.message}`, 'internal-server-error');
          else if (el.name === 'iq') sendError(el, new StanzaError('internal-server-error', { type: 'wait' }));
        } catch (err2) {
          logger.error({ err: err2 }, 'answering a failed stanza failed');
        }
        metrics.rejectedStanzas.inc({ reason: 'handler-error' });
      }
    },
  };
}

