// XEP-0355 Namespace Delegation, the managing entity's side, for urn:xmpp:delegation:1 (ejabberd) and
// urn:xmpp:delegation:2 (Prosody, XEP v0.5). Both versions have the same shapes; we always answer in the
// namespace we received. Server behaviour behind each rule: README, "Switching a server's PEP" and "Every forwarded IQ gets exactly one answer".
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { isDomainJid, parseJid } from './jid';
import type { Jid } from './jid';
import { fail, ok } from './result';
import type { Failure, Result } from './result';
import { STANZA_ERROR_NS, buildErrorElement, isStanzaErrorCondition, isStanzaErrorType } from './stanza-error';
import { StanzaError } from './stanza-error';
import { byteLength } from './xml-parse';
import {
  ElementClass,
  childElements,
  cloneElement,
  describe,
  hasSignificantText,
  inheritedPrefixDeclarations,
  isElementNode,
  isUnprefixed,
  ownNamespace,
  quote,
} from './xml-util';

export const DELEGATION_NS_1 = 'urn:xmpp:delegation:1';
export const DELEGATION_NS_2 = 'urn:xmpp:delegation:2';
export const FORWARD_NS = 'urn:xmpp:forward:0';
export const CLIENT_NS = 'jabber:client';
const DELAY_NS = 'urn:xmpp:delay';

/** The delegation namespace doubles as the protocol version. */
export type DelegationVersion = typeof DELEGATION_NS_1 | typeof DELEGATION_NS_2;

export function isDelegationVersion(ns: unknown): ns is DelegationVersion {
  return ns === DELEGATION_NS_1 || ns === DELEGATION_NS_2;
}

/**
 * The delegation version of a stanza that carries a `<delegation/>` child in v1 or v2, else null:
 * lets the ingress tell forwarded IQs and grant advertisements from other traffic before parsing.
 */
export function delegationVersionOf(stanza: Element): DelegationVersion | null {
  if (!isElementNode(stanza)) return null;
  for (const child of childElements(stanza)) {
    const ns = child.getNS();
    if (child.getName() === 'delegation' && isDelegationVersion(ns)) return ns;
  }
  return null;
}

/** Who we are and which server we are attached to, as configured. */
export interface DelegationContext {
  serverDomain: string;
  componentDomain: string;
}

// ---------------------------------------------------------------------------------------------------
// Grant advertisement

export type DelegationGrantKind = 'namespace' | 'bare-disco-info' | 'bare-disco-items';

export interface DelegationGrant {
  /** As advertised; for the bare-disco kinds, the pseudo-namespace itself (`urn:xmpp:delegation:2:bare:disco#info:*`). */
  namespace: string;
  /** Filtering attributes: the server forwards only IQs whose payload carries all of them. */
  attributes: string[];
  kind: DelegationGrantKind;
}

export interface GrantAdvertisement {
  version: DelegationVersion;
  grants: DelegationGrant[];
}

/**
 * Reads the `<message><delegation><delegated namespace=…>` a server sends after we authenticate and
 * whenever delegations change (XEP-0355 §4.1 "Server Allows Namespaces Delegations").
 *
 * Accepted only from the server domain itself; `to`, when present, must be the component. Duplicate
 * `<delegated/>` entries (ejabberd sends some) merge into one grant whose attributes are the
 * intersection: the server forwards when all of an entry's attributes are present, so the smaller set
 * says what may actually arrive. ejabberd sends one message per activated namespace, Prosody the full
 * set: callers should merge advertisements, not replace earlier ones.
 */
export function parseGrantAdvertisement(message: Element, ctx: DelegationContext): Result<GrantAdvertisement> {
  const where = 'delegation advertisement';
  if (!isElementNode(message) || message.name !== 'message') {
    return fail(`${where}: not a <message/> (got ${isElementNode(message) ? `<${message.name}/>` : typeof message})`);
  }
  const from = message.attrs.from;
  if (from === undefined) return fail(`${where}: message has no from`, 'forbidden');
  if (!isDomainJid(from, ctx.serverDomain)) {
    return fail(`${where}: from ${quote(from)} is not the server domain ${quote(ctx.serverDomain)}`, 'forbidden');
  }
  const to = message.attrs.to;
  if (to !== undefined && !isDomainJid(to, ctx.componentDomain)) {
    return fail(`${where}: to ${quote(to)} is not the component domain ${quote(ctx.componentDomain)}`);
  }

  const delegations = childElements(message).filter((c) => c.getName() === 'delegation');
  const supported = delegations.filter((d) => isDelegationVersion(d.getNS()));
  if (supported.length === 0) {
    const found = delegations[0];
    return fail(
      `${where}: message has no <delegation/> child in ${DELEGATION_NS_1} or ${DELEGATION_NS_2}` +
        (found ? ` (found ${describe(found)})` : ''),
    );
  }
  if (supported.length > 1) return fail(`${where}: message has ${supported.length} <delegation/> children`);
  const delegation = supported[0] as Element;
  const version = delegation.getNS() as DelegationVersion;

  const grants = new Map<string, DelegationGrant>();
  let index = 0;
  for (const delegated of childElements(delegation)) {
    if (delegated.getName() !== 'delegated' || delegated.getNS() !== version) continue;
    index += 1;
    const namespace = delegated.attrs.namespace;
    if (namespace === undefined || namespace === '') {
      return fail(`${where}: <delegated/> #${index} has no namespace`);
    }
    if (/[\s\u0000-\u001f]/.test(namespace)) {
      return fail(`${where}: delegated namespace ${quote(namespace)} contains whitespace or control characters`);
    }
    const kind = grantKind(namespace, version);
    if (kind === null) {
      return fail(`${where}: namespace ${quote(namespace)} cannot be delegated (XEP-0355 namespaces are never delegated)`);
    }
    const attributes: string[] = [];
    for (const attribute of childElements(delegated)) {
      if (attribute.getName() !== 'attribute' || attribute.getNS() !== version) continue;
      const name = attribute.attrs.name;
      if (name === undefined || name === '') {
        return fail(`${where}: <attribute/> without a name in <delegated namespace=${quote(namespace)}/>`);
      }
      if (!attributes.includes(name)) attributes.push(name);
    }
    const previous = grants.get(namespace);
    if (previous) previous.attributes = previous.attributes.filter((a) => attributes.includes(a));
    else grants.set(namespace, { namespace, attributes, kind });
  }
  return ok({ version, grants: [...grants.values()] });
}

function grantKind(namespace: string, version: DelegationVersion): DelegationGrantKind | null {
  if (namespace === `${version}:bare:disco#info:*`) return 'bare-disco-info';
  if (namespace === `${version}:bare:disco#items:*`) return 'bare-disco-items';
  if (namespace.startsWith('urn:xmpp:delegation:') || namespace === 'urn:xmpp:delegation') return null;
  return 'namespace';
}

// ---------------------------------------------------------------------------------------------------
// Forwarded requests

export interface ForwardedRequest {
  version: DelegationVersion;
  /** id of the outer `<iq type='set'>`, echoed in the wrapper reply. */
  outerId: string;
  /** The outer `from` as sent (the server domain); the wrapper reply goes back to exactly this string. */
  outerFrom: string;
  /** The outer `to` as sent (the component domain); the wrapper reply comes from exactly this string. */
  outerTo: string;
  /**
   * Normalized copy of the inner IQ for the workers: `xmlns='jabber:client'`, `to` = `targetBare` (filled in when
   * missing, normalized: ejabberd forwards the address as the client typed it, e.g. `Alice@LocalHost`), the
   * payload its only child.
   */
  inner: Element;
  innerId: string;
  innerType: 'get' | 'set';
  /** The requester, exactly as sent (usually a full JID). */
  from: string;
  /** The bare target as sent, or the requester's bare JID when the inner IQ had no `to`. */
  to: string;
  toWasMissing: boolean;
  /** Normalized bare JID of the requester, for access control. */
  requesterBare: string;
  /** Normalized bare JID of the target (a local account, or the server domain). */
  targetBare: string;
  /** The inner IQ's only child element, as received (not whitespace-stripped: payload text is data). */
  payload: Element;
  payloadNs: string;
}

export interface ParseForwardedIqContext extends DelegationContext {
  /** Cap on the serialized size of the whole outer IQ, in UTF-8 bytes. */
  maxBytes: number;
}

/**
 * Validates a forwarded IQ (XEP-0355 §4.3 "Server Forwards Delegated <iq/> Stanza") and extracts the
 * request. Rejections carry the condition to answer with:
 * - `bad-request`: malformed envelope or inner IQ;
 * - `jid-malformed`: an inner `from`/`to` that is not a JID;
 * - `forbidden`: an outer sender other than the server domain, an inner `to` outside the server's
 *   domain, a missing inner `to` with a non-local sender (spoofed addresses);
 * - `not-allowed`: an inner `from` on the component's own domain (ejabberd loops our own requests back);
 * - `policy-violation`: over `maxBytes` (RFC 6120 §4.9.3.14 names a size limit as a policy violation).
 *
 * Whitespace text between envelope elements is ignored; the payload is kept as received.
 */
export function parseForwardedIq(iq: Element, ctx: ParseForwardedIqContext): Result<ForwardedRequest> {
  const outer = checkOuter(iq, ctx);
  if (!outer.ok) return outer;
  const { outerId, outerFrom, outerTo } = outer.value;

  const size = byteLength(iq);
  if (size > ctx.maxBytes) {
    return fail(`forwarded iq: stanza is ${size} bytes, over the ${ctx.maxBytes}-byte limit`, 'policy-violation');
  }

  const envelope = openEnvelope(iq);
  if (!envelope.ok) return envelope;
  const { version, inner } = envelope.value;

  const request = checkInner(inner, ctx);
  if (!request.ok) return request;
  const { innerId, innerType, from, fromJid, to, toJid, toWasMissing, payload, payloadNs } = request.value;

  const targetBare = bareOf(toJid);
  const normalized = new ElementClass('iq', {
    xmlns: CLIENT_NS,
    ...inheritedPrefixDeclarations(inner),
    ...withoutKey(inner.attrs, 'xmlns'),
    to: targetBare,
  });
  normalized.cnode(cloneElement(payload));

  return ok({
    version,
    outerId,
    outerFrom,
    outerTo,
    inner: normalized,
    innerId,
    innerType,
    from,
    to,
    toWasMissing,
    requesterBare: bareOf(fromJid),
    targetBare,
    payload,
    payloadNs,
  });
}

interface OuterAddresses {
  outerId: string;
  outerFrom: string;
  outerTo: string;
}

function checkOuter(iq: Element, ctx: DelegationContext): Result<OuterAddresses> {
  if (!isElementNode(iq) || iq.name !== 'iq') {
    return fail(`forwarded iq: not an <iq/> (got ${isElementNode(iq) ? `<${iq.name}/>` : typeof iq})`);
  }
  const type = iq.attrs.type;
  if (type !== 'set') {
    return fail(`forwarded iq: outer iq type is ${type === undefined ? 'missing' : quote(type)}, expected 'set'`);
  }
  const outerId = iq.attrs.id;
  if (outerId === undefined || outerId === '') return fail('forwarded iq: outer iq has no id');
  const outerFrom = iq.attrs.from;
  if (outerFrom === undefined || outerFrom === '') return fail('forwarded iq: outer iq has no from', 'forbidden');
  if (!isDomainJid(outerFrom, ctx.serverDomain)) {
    return fail(`forwarded iq: outer iq from ${quote(outerFrom)} is not the server domain ${quote(ctx.serverDomain)}`, 'forbidden');
  }
  const outerTo = iq.attrs.to;
  if (outerTo === undefined || outerTo === '') return fail('forwarded iq: outer iq has no to');
  if (!isDomainJid(outerTo, ctx.componentDomain)) {
    return fail(`forwarded iq: outer iq to ${quote(outerTo)} is not the component domain ${quote(ctx.componentDomain)}`);
  }
  return ok({ outerId, outerFrom, outerTo });
}

/** Walks `<iq><delegation><forwarded><iq>`, each level holding exactly the one expected element. */
function openEnvelope(iq: Element): Result<{ version: DelegationVersion; inner: Element }> {
  const level1 = onlyChild(iq, 'outer iq', (c) => c.getName() === 'delegation' && isDelegationVersion(c.getNS()), {
    expected: `<delegation/> in ${DELEGATION_NS_1} or ${DELEGATION_NS_2}`,
  });
  if (!level1.ok) return level1;
  const delegation = level1.value;
  if (!isUnprefixed(delegation)) return fail('forwarded iq: prefixed <delegation/> elements are not supported');
  const version = delegation.getNS() as DelegationVersion;

  const level2 = onlyChild(delegation, '<delegation/>', (c) => c.name === 'forwarded' && c.getNS() === FORWARD_NS, {
    expected: `<forwarded xmlns='${FORWARD_NS}'/>`,
  });
  if (!level2.ok) return level2;
  const forwarded = level2.value;

  const level3 = onlyChild(forwarded, '<forwarded/>', (c) => c.name === 'iq', {
    expected: '<iq/>',
    // XEP-0297 lets a <delay/> sit beside the forwarded stanza; it is harmless, so it is skipped.
    skip: (c) => c.getName() === 'delay' && c.getNS() === DELAY_NS,
  });
  if (!level3.ok) return level3;
  const inner = level3.value;
  const innerNs = inner.attrs.xmlns;
  if (innerNs !== undefined && innerNs !== CLIENT_NS) {
    return fail(`forwarded iq: inner iq namespace ${quote(innerNs)} is not ${CLIENT_NS}`);
  }
  return ok({ version, inner });
}

/**
 * The single child element of `parent` matching `isWanted`, ignoring whitespace text and `skip`ped
 * elements; anything else (text, extra or foreign elements) is a rejection with a precise reason.
 */
function onlyChild(
  parent: Element,
  label: string,
  isWanted: (el: Element) => boolean,
  opts: { expected: string; skip?: (el: Element) => boolean },
): Result<Element> {
  if (hasSignificantText(parent)) return fail(`forwarded iq: ${label} contains text`);
  const children = childElements(parent).filter((c) => !opts.skip?.(c));
  const wanted = children.filter(isWanted);
  if (wanted.length > 1) return fail(`forwarded iq: ${label} has ${wanted.length} ${opts.expected} children`);
  const found = wanted[0];
  if (!found) {
    const other = children[0];
    return fail(`forwarded iq: ${label} has no ${opts.expected} child` + (other ? ` (found ${describe(other)})` : ''));
  }
  const foreign = children.find((c) => c !== found);
  if (foreign) return fail(`forwarded iq: ${label} has an unexpected ${describe(foreign)} beside ${opts.expected}`);
  return ok(found);
}

interface InnerRequest {
  innerId: string;
  innerType: 'get' | 'set';
  from: string;
  fromJid: Jid;
  to: string;
  toJid: Jid;
  toWasMissing: boolean;
  payload: Element;
  payloadNs: string;
}

function checkInner(inner: Element, ctx: DelegationContext): Result<InnerRequest> {
  const innerId = inner.attrs.id;
  if (innerId === undefined || innerId === '') return fail('forwarded iq: inner iq has no id');

  const type = inner.attrs.type;
  if (type === undefined) return fail('forwarded iq: inner iq has no type');
  if (type === 'result' || type === 'error') {
    return fail(`forwarded iq: inner iq type '${type}' is not a request (expected get or set)`);
  }
  if (type !== 'get' && type !== 'set') return fail(`forwarded iq: inner iq type ${quote(type)} is invalid`);

  const from = inner.attrs.from;
  if (from === undefined || from === '') return fail('forwarded iq: inner iq has no from');
  const fromJid = parseJid(from);
  if (!fromJid) return fail(`forwarded iq: inner iq from ${quote(from)} is not a valid JID`, 'jid-malformed');
  const component = parseJid(ctx.componentDomain);
  if (component && fromJid.domain === component.domain) {
    return fail(`forwarded iq: inner iq from ${quote(from)} is on the component's own domain (loop or spoof)`, 'not-allowed');
  }
  const server = parseJid(ctx.serverDomain);
  const serverDomain = server?.domain ?? ctx.serverDomain.toLowerCase();

  let to = inner.attrs.to;
  let toJid: Jid;
  const toWasMissing = to === undefined;
  if (to === undefined) {
    // Prosody forwards a user's request to their own account without `to` (protocol-notes §1.3):
    // only a local user can send that.
    if (fromJid.domain !== serverDomain) {
      return fail(`forwarded iq: inner iq has no to and its sender ${quote(from)} is not on the server domain`, 'forbidden');
    }
    const slash = from.indexOf('/');
    to = slash >= 0 ? from.slice(0, slash) : from;
    toJid = { ...fromJid };
    delete toJid.resource;
  } else {
    const parsed = parseJid(to);
    if (!parsed) return fail(`forwarded iq: inner iq to ${quote(to)} is not a valid JID`, 'jid-malformed');
    if (parsed.resource !== undefined) {
      return fail(`forwarded iq: inner iq to ${quote(to)} is a full JID; delegation only forwards IQs to bare JIDs or the server domain`);
    }
    if (parsed.domain !== serverDomain) {
      return fail(`forwarded iq: inner iq to ${quote(to)} is not on the server domain ${quote(ctx.serverDomain)}`, 'forbidden');
    }
    toJid = parsed;
  }

  if (hasSignificantText(inner)) return fail('forwarded iq: inner iq contains text beside its payload');
  const children = childElements(inner);
  if (children.length === 0) return fail('forwarded iq: inner iq has no payload element');
  if (children.length > 1) return fail(`forwarded iq: inner iq has ${children.length} payload elements, expected exactly one`);
  const payload = children[0] as Element;
  const payloadNs = ownNamespace(payload);
  if (payloadNs === undefined) return fail(`forwarded iq: payload <${payload.name}/> has no namespace`);
  if (payloadNs === CLIENT_NS || payloadNs === FORWARD_NS || isDelegationVersion(payloadNs)) {
    return fail(`forwarded iq: payload <${payload.name}/> is in the envelope namespace ${quote(payloadNs)}`);
  }
  return ok({ innerId, innerType: type, from, fromJid, to, toJid, toWasMissing, payload, payloadNs });
}

function bareOf(jid: Jid): string {
  return jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`;
}

function withoutKey(attrs: Record<string, string>, key: string): Record<string, string> {
  const { [key]: _dropped, ...rest } = attrs;
  return rest;
}

// ---------------------------------------------------------------------------------------------------
// Replies

/**
 * The inner reply to a forwarded request (XEP-0355 §4.3; addressing per protocol-notes §1.4):
 * `<iq xmlns='jabber:client' type id=innerId from=original to (or the requester's bare JID) to=original from>`
 * with at most one child: the payload for a result, the `<error/>` alone for an error.
 */
export function buildInnerReply(req: ForwardedRequest, type: 'result', payload?: Element): Element;
export function buildInnerReply(req: ForwardedRequest, type: 'error', err: StanzaError): Element;
export function buildInnerReply(req: ForwardedRequest, type: 'result' | 'error', payload?: Element | StanzaError): Element {
  let child: Element | null = null;
  if (type === 'error') {
    const err = payload instanceof StanzaError ? payload : new StanzaError('internal-server-error');
    child = buildErrorElement(err);
  } else if (payload instanceof StanzaError) {
    throw new TypeError('buildInnerReply: a result cannot carry a StanzaError');
  } else if (payload !== undefined) {
    child = cloneElement(payload);
  }
  return xml('iq', { xmlns: CLIENT_NS, type, id: req.innerId, from: req.to, to: req.from }, child);
}

/**
 * Validates an inner reply produced by a worker before it is wrapped: an `<iq>` in jabber:client with
 * the request's id, `to` = the requester exactly, `from` = what `buildInnerReply` would put or the
 * normalized target the worker was shown (`req.inner`'s `to`), type result (at most one child element) or
 * error (an `<error/>` with a defined condition; an echoed request payload beside it is tolerated and
 * dropped). Returns a normalized copy: xmlns written, no whitespace text, `from` = the target exactly as
 * the server sent it (ejabberd matches the reply against the original address, case included).
 */
export function checkWorkerReply(req: ForwardedRequest, reply: Element): Result<Element> {
  const where = 'worker reply';
  if (!isElementNode(reply) || reply.name !== 'iq') {
    return fail(`${where}: not an <iq/> (got ${isElementNode(reply) ? `<${reply.name}/>` : typeof reply})`, 'internal-server-error');
  }
  const bad = (reason: string): Failure => fail(`${where}: ${reason}`, 'internal-server-error');
  const ns = reply.attrs.xmlns;
  if (ns !== undefined && ns !== CLIENT_NS) return bad(`iq namespace ${quote(ns)} is not ${CLIENT_NS}`);
  const { id, type, to, from } = reply.attrs;
  if (id !== req.innerId) return bad(`id ${id === undefined ? 'is missing' : quote(id)}, expected ${quote(req.innerId)}`);
  if (type !== 'result' && type !== 'error') {
    return bad(`type ${type === undefined ? 'is missing' : quote(type)}, expected 'result' or 'error'`);
  }
  if (to !== req.from) return bad(`to ${to === undefined ? 'is missing' : quote(to)}, expected ${quote(req.from)}`);
  if (from !== req.to && from !== req.targetBare) {
    return bad(`from ${from === undefined ? 'is missing' : quote(from)}, expected ${quote(req.to)}`);
  }
  if (hasSignificantText(reply)) return bad('iq contains text');

  const children = childElements(reply);
  let kept: Element[];
  if (type === 'result') {
    if (children.length > 1) return bad(`result has ${children.length} child elements, at most one is allowed`);
    kept = children;
  } else {
    const errors = children.filter((c) => c.name === 'error');
    if (errors.length !== 1) return bad(`error reply has ${errors.length} <error/> children, expected one`);
    if (children.length > 2) return bad(`error reply has ${children.length} child elements, at most the payload and <error/>`);
    const error = errors[0] as Element;
    const invalid = checkErrorElement(error);
    if (invalid) return bad(invalid);
    kept = [error];
  }
  const normalized = new ElementClass('iq', { xmlns: CLIENT_NS, ...withoutKey(reply.attrs, 'xmlns'), from: req.to });
  for (const child of kept) normalized.cnode(cloneElement(child));
  return ok(normalized);
}

function checkErrorElement(error: Element): string | null {
  if (!isStanzaErrorType(error.attrs.type)) {
    return `<error/> type ${error.attrs.type === undefined ? 'is missing' : quote(error.attrs.type)}`;
  }
  const hasCondition = childElements(error).some(
    (c) => c.attrs.xmlns === STANZA_ERROR_NS && c.name !== 'text' && isStanzaErrorCondition(c.name),
  );
  return hasCondition ? null : '<error/> has no RFC 6120 defined condition';
}

/**
 * The wrapper reply to a forwarded IQ (XEP-0355 §4.3, protocol-notes §1.4):
 * `<iq type='result' id=outerId from=component to=server><delegation xmlns=version><forwarded><iq/>…`.
 * Always `type='result'`, also around an inner error: ejabberd leaves the client hanging on an outer
 * error. Addresses echo the outer request exactly (Prosody compares strings). `innerReply` must come from
 * `buildInnerReply` or `checkWorkerReply`; it is copied with xmlns written and without the text nodes
 * of the iq level, so the wrapper chain carries no text node at all.
 */
export function wrapReply(req: ForwardedRequest, innerReply: Element): Element {
  const inner = new ElementClass('iq', { xmlns: CLIENT_NS, ...withoutKey(innerReply.attrs, 'xmlns') });
  // Prosody counts every child node of the inner IQ, text included (protocol-notes §1.4).
  for (const child of innerReply.children) {
    if (isElementNode(child)) inner.cnode(cloneElement(child));
  }
  return xml(
    'iq',
    { type: 'result', id: req.outerId, from: req.outerTo, to: req.outerFrom },
    xml('delegation', { xmlns: req.version }, xml('forwarded', { xmlns: FORWARD_NS }, inner)),
  );
}

/** `wrapReply(req, buildInnerReply(req, 'error', err))`. */
export function buildErrorReplyWrapper(req: ForwardedRequest, err: StanzaError): Element {
  return wrapReply(req, buildInnerReply(req, 'error', err));
}

// ---------------------------------------------------------------------------------------------------
// Answering what cannot be parsed

export interface OuterRequestIdentity {
  id: string;
  from: string;
  type: 'get' | 'set';
}

/**
 * The id and sender of an IQ request, however broken its content, so that it can still be answered.
 * Null when it is not an IQ request with an id and a sender; results and errors are never answered
 * (RFC 6120 §8.2.3), so they give null too.
 */
export function parseOuterIdentity(iq: Element): OuterRequestIdentity | null {
  if (!isElementNode(iq) || iq.name !== 'iq') return null;
  const { id, from, type } = iq.attrs;
  if (!id || !from || (type !== 'get' && type !== 'set')) return null;
  return { id, from, type };
}

export interface SalvagedInner {
  version: DelegationVersion;
  id: string;
  from: string;
  /** As sent; may be anything, the reply's `from` must still echo it. */
  to: string | undefined;
}

/**
 * Best-effort read of the inner IQ of a forwarded IQ that `parseForwardedIq` rejected: the first
 * `<delegation>` (v1 or v2) / `<forwarded>` / `<iq>` path, whatever else surrounds it. Null unless the
 * inner IQ is a get/set with an id and a valid `from` JID, since only then can an inner error reach
 * the client.
 */
export function salvageInner(outer: Element): SalvagedInner | null {
  if (!isElementNode(outer)) return null;
  const delegation = childElements(outer).find((c) => c.getName() === 'delegation' && isDelegationVersion(c.getNS()));
  if (!delegation) return null;
  const forwarded = childElements(delegation).find((c) => c.getName() === 'forwarded' && c.getNS() === FORWARD_NS);
  if (!forwarded) return null;
  const inner = childElements(forwarded).find((c) => c.getName() === 'iq');
  if (!inner) return null;
  const { id, from, to, type } = inner.attrs;
  if (!id || !from || (type !== 'get' && type !== 'set') || parseJid(from) === null) return null;
  return { version: delegation.getNS() as DelegationVersion, id, from, to };
}

/**
 * For a forwarded IQ from our server that `parseForwardedIq` rejected: a `type='result'` wrapper around
 * an inner error addressed to the original requester, so that the client gets an answer on both servers.
 * `version` overrides the version found in the stanza (pass the one you parsed, if any).
 *
 * Null when the outer IQ is not a request from the server domain or the inner IQ is unreadable (see
 * `salvageInner`). The ingress then answers the OUTER IQ with a plain `type='error'` (`buildIqError`),
 * which is what RFC 6120 §8.3.1 asks for a request that is not a delegation at all; no client is
 * waiting behind such a stanza, so ejabberd's hang on outer errors does not matter there.
 */
export function wrapBrokenRequestError(
  outer: Element,
  version: DelegationVersion | undefined,
  err: StanzaError,
  ctx: DelegationContext,
): Element | null {
  const identity = parseOuterIdentity(outer);
  if (!identity || !isDomainJid(identity.from, ctx.serverDomain)) return null;
  const inner = salvageInner(outer);
  if (!inner) return null;
  let to = inner.to;
  if (to === undefined) {
    const slash = inner.from.indexOf('/');
    to = slash >= 0 ? inner.from.slice(0, slash) : inner.from;
  }
  const innerReply = xml('iq', { xmlns: CLIENT_NS, type: 'error', id: inner.id, from: to, to: inner.from }, buildErrorElement(err));
  const outerTo = outer.attrs.to;
  const component = outerTo !== undefined && isDomainJid(outerTo, ctx.componentDomain) ? outerTo : ctx.componentDomain;
  return xml(
    'iq',
    { type: 'result', id: identity.id, from: component, to: identity.from },
    xml('delegation', { xmlns: version ?? inner.version }, xml('forwarded', { xmlns: FORWARD_NS }, innerReply)),
  );
}
