// IQs the component sends on behalf of workers to read shared user state: the XEP-0356 privileged
// roster get (`roster` permission `get`/`both`) and XEP-0030 disco#info to a client's full JID (XEP-0115
// caps resolution). Pure: the target checks, the request stanza, and whether a response answers it.
//
// Prosody 0.12 (observed, test/e2e/user-state.test.ts): the roster result comes from the user's
// normalized bare JID (a request to `Alice@LocalHost` is answered from `alice@localhost`); an unknown
// user gets an empty roster, not an error. A disco#info to a full JID is answered by the client from that
// full JID; to a resource that is gone Prosody answers `service-unavailable` from the JID asked. Every
// response carries a `from`: one without is never accepted.
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DISCO_INFO_NS } from './disco-nesting';
import { jidToString, parseJid, type Jid } from './jid';
import { fail, ok, type Result } from './result';
import { isElementNode, quote } from './xml-util';

export const ROSTER_NS = 'jabber:iq:roster';

export type UserIqKind = 'roster-get' | 'disco-info';

export interface UserIqContext {
  serverDomain: string;
  componentDomain: string;
}

const server = (ctx: UserIqContext): Jid | null => {
  const j = parseJid(ctx.serverDomain);
  return j && j.local === undefined && j.resource === undefined ? j : null;
};

/**
 * Checks the target of a worker's IQ and returns it normalized. Failures are `forbidden`:
 * - `roster-get`: a bare JID with a localpart on exactly the served domain (not a full JID, not the
 *   domain, not another domain: the server only holds rosters of its own users);
 * - `disco-info`: a full JID (caps are per resource), of any domain but the component's own.
 */
export function checkUserIqTarget(kind: UserIqKind, to: string, ctx: UserIqContext): Result<string> {
  const jid = parseJid(to);
  if (!jid) return fail(`${kind}: to ${quote(to)} is not a valid JID`, 'forbidden');
  if (kind === 'roster-get') {
    const s = server(ctx);
    if (!s) return fail(`${kind}: configured server domain ${quote(ctx.serverDomain)} is not a domain JID`, 'internal-server-error');
    if (jid.domain !== s.domain) return fail(`${kind}: to ${quote(to)} is not a user of the served domain ${quote(s.domain)}`, 'forbidden');
    if (jid.local === undefined) return fail(`${kind}: to ${quote(to)} is the server domain itself, not a user`, 'forbidden');
    if (jid.resource !== undefined) return fail(`${kind}: to ${quote(to)} is a full JID; rosters belong to bare JIDs`, 'forbidden');
    return ok(jidToString(jid));
  }
  if (jid.resource === undefined) return fail(`${kind}: to ${quote(to)} is not a full JID (caps are asked of one resource)`, 'forbidden');
  const component = parseJid(ctx.componentDomain);
  if (component && jid.domain === component.domain) return fail(`${kind}: to ${quote(to)} is on the component's own domain`, 'forbidden');
  return ok(jidToString(jid));
}

export interface UserIqRequest {
  kind: UserIqKind;
  /** Normalized target, from checkUserIqTarget. */
  to: string;
  id: string;
  componentDomain: string;
  /** disco-info only: the `node` to ask (`caps node#ver`). */
  node?: string;
}

/**
 * `<iq type='get' from=component to id><query xmlns='jabber:iq:roster'/></iq>` or
 * `<iq type='get' from=component to id><query xmlns='http://jabber.org/protocol/disco#info' [node]/></iq>`.
 */
export function buildUserIq(req: UserIqRequest): Element {
  const attrs = { type: 'get', from: req.componentDomain, to: req.to, id: req.id };
  if (req.kind === 'roster-get') return xml('iq', attrs, xml('query', { xmlns: ROSTER_NS }));
  return xml('iq', attrs, xml('query', req.node === undefined ? { xmlns: DISCO_INFO_NS } : { xmlns: DISCO_INFO_NS, node: req.node }));
}

/** An `<iq type='result'|'error'>` with an id: something that may answer one of our requests. */
export function isIqResponse(el: Element): boolean {
  return isElementNode(el) && el.name === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error') && typeof el.attrs.id === 'string' && el.attrs.id !== '';
}

/**
 * True when `response` comes from the entity the request went to (RFC 6120 §8.1.2.1): its `from`,
 * normalized, equals the normalized `sentTo`, resource included. A missing or unparsable `from` never
 * matches (a spoofed or misrouted answer must not complete a worker's request).
 */
export function iqResponseFromMatches(response: Element, sentTo: string): boolean {
  const from = response.attrs.from;
  if (from === undefined || from === '') return false;
  const a = parseJid(from);
  const b = parseJid(sentTo);
  return a !== null && b !== null && jidToString(a) === jidToString(b);
}
