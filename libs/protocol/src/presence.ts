// Presences the server sends the component as an XEP-0356 privileged entity (`presence='roster'` or
// `managed_entity`). What Prosody 0.12 mod_privilege sends, observed (test/e2e/user-state.test.ts):
// - a local user's broadcast presence (available, `type='unavailable'`), `from` the user's FULL JID as
//   stamped by the server, `to` the component, the client's children kept (XEP-0115 `<c/>`, `<show/>`...);
// - right after the component authenticates, the current presence of every available session, carrying
//   the `<delay xmlns='urn:xmpp:delay' from=server/>` mod_presence stored with it (a replay, not a change);
// - with `presence='roster'`: presences of remote contacts (s2s), from their (usually full) JIDs;
// - directed presences users send to the component itself (indistinguishable from the forwarded ones:
//   the server stamps `from` in both cases, so they are truthful);
// - an abrupt disconnect after a directed presence gives the same `unavailable` twice.
import type { Element } from '@xmpp/xml';
import { jidToString, parseJid } from './jid';
import { childElements, isElementNode, quote } from './xml-util';

export const CAPS_NS = 'http://jabber.org/protocol/caps';
export const DELAY_NS = 'urn:xmpp:delay';
/** XEP-0091, obsolete but still sent by old clients and servers. */
export const LEGACY_DELAY_NS = 'jabber:x:delay';

/** Bounds of the caps attributes; the same as `CapsSchema` in @dbroker/bus (a longer value drops the caps, not the presence). */
export const CAPS_LIMITS = Object.freeze({ node: 1024, ver: 200, hash: 50 });

export interface PresenceCaps {
  node: string;
  ver: string;
  hash: string;
}

export interface ForwardedPresence {
  /** Normalized JID of the sender (domain and localpart lowercased, resource as sent). */
  from: string;
  available: boolean;
  caps?: PresenceCaps;
  delayed: boolean;
  /** The sender is a user of the served domain. */
  local: boolean;
}

/**
 * Why a presence is not forwarded:
 * - `ignored`: a type that is not availability (subscribe, probe, error, ...), or an element that is not a presence;
 * - `untrusted`: a sender that may not tell us presences (another domain without the `roster` presence
 *   permission, the server or component domain itself, a local bare JID);
 * - `malformed`: no or an invalid `from`, a `to` that is not the component.
 */
export type PresenceDropKind = 'ignored' | 'untrusted' | 'malformed';

export type PresenceParse = { ok: true; value: ForwardedPresence } | { ok: false; kind: PresenceDropKind; reason: string };

export interface PresenceContext {
  serverDomain: string;
  /** When set, a `to` other than this domain (or one of its JIDs) is malformed. */
  componentDomain?: string;
  /**
   * Accept presences of entities of other domains: true when the server granted `presence='roster'`
   * (it then forwards the presences of the users' remote contacts). Default false: local users only.
   */
  acceptRemote?: boolean;
}

const NO_SPACE_PRINTABLE = /^[^\s\u0000-\u001f\u007f-\u009f]+$/;

/**
 * Reads one `<presence/>` off the component stream. Accepted: no `type` (available) or
 * `type='unavailable'`, from a full JID of a user of `serverDomain`, or (with `acceptRemote`) from any
 * valid JID of another domain. Never from the server domain itself, nor from the component's domain.
 *
 * Caps (XEP-0115) are kept only when exactly one `<c xmlns=caps/>` carries `hash`, `node` and `ver`,
 * each without whitespace or control characters and within CAPS_LIMITS; anything else (legacy caps
 * without `hash`, a huge `ver`, two `<c/>`) is reported as no caps, the presence itself still counts.
 * `delayed` is true when a `<delay xmlns='urn:xmpp:delay'/>` (or XEP-0091 `jabber:x:delay`) child is present.
 */
export function parseForwardedPresence(el: Element, ctx: PresenceContext): PresenceParse {
  if (!isElementNode(el) || el.name !== 'presence') return { ok: false, kind: 'ignored', reason: 'not a <presence/>' };
  const type = el.attrs.type;
  if (type !== undefined && type !== 'unavailable') return { ok: false, kind: 'ignored', reason: `presence of type ${quote(type)}` };

  const rawFrom = el.attrs.from;
  if (rawFrom === undefined || rawFrom === '') return { ok: false, kind: 'malformed', reason: 'presence has no from' };
  const from = parseJid(rawFrom);
  if (!from) return { ok: false, kind: 'malformed', reason: `from ${quote(rawFrom)} is not a valid JID` };

  const server = parseJid(ctx.serverDomain);
  if (!server || server.local !== undefined || server.resource !== undefined) {
    return { ok: false, kind: 'malformed', reason: `configured server domain ${quote(ctx.serverDomain)} is not a domain JID` };
  }
  const component = ctx.componentDomain === undefined ? null : parseJid(ctx.componentDomain);
  const to = el.attrs.to;
  if (component && to !== undefined) {
    const toJid = parseJid(to);
    if (!toJid || toJid.local !== undefined || toJid.domain !== component.domain) {
      return { ok: false, kind: 'malformed', reason: `to ${quote(to)} is not the component ${quote(component.domain)}` };
    }
  }

  const local = from.domain === server.domain;
  if (local) {
    if (from.local === undefined) return { ok: false, kind: 'untrusted', reason: `from ${quote(rawFrom)} is the server domain, not a user` };
    if (from.resource === undefined) {
      return { ok: false, kind: 'untrusted', reason: `from ${quote(rawFrom)} is a bare JID; the server sends presences of local users from their full JIDs` };
    }
  } else {
    if (component && from.domain === component.domain) return { ok: false, kind: 'untrusted', reason: `from ${quote(rawFrom)} is on the component's own domain` };
    if (!ctx.acceptRemote) {
      return {
        ok: false,
        kind: 'untrusted',
        reason: `from ${quote(rawFrom)} is not on the served domain ${quote(server.domain)} and the server did not grant presence='roster'`,
      };
    }
  }

  const value: ForwardedPresence = { from: jidToString(from), available: type === undefined, delayed: isDelayed(el), local };
  const caps = readCaps(el);
  if (caps) value.caps = caps;
  return { ok: true, value };
}

function isDelayed(el: Element): boolean {
  return childElements(el).some((c) => (c.getName() === 'delay' && c.getNS() === DELAY_NS) || (c.getName() === 'x' && c.getNS() === LEGACY_DELAY_NS));
}

function capsAttr(c: Element, name: keyof typeof CAPS_LIMITS): string | null {
  const v = c.attrs[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > CAPS_LIMITS[name] || !NO_SPACE_PRINTABLE.test(v)) return null;
  return v;
}

/** The XEP-0115 caps of a presence, or undefined (none, incomplete, ambiguous or out of bounds). */
export function readCaps(el: Element): PresenceCaps | undefined {
  const all = childElements(el).filter((c) => c.getName() === 'c' && c.getNS() === CAPS_NS);
  if (all.length !== 1) return undefined;
  const c = all[0]!;
  const node = capsAttr(c, 'node');
  const ver = capsAttr(c, 'ver');
  const hash = capsAttr(c, 'hash');
  if (node === null || ver === null || hash === null) return undefined;
  return { node, ver, hash };
}
