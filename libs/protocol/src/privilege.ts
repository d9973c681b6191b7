// XEP-0356 Privileged Entity, the privileged entity's side, for urn:xmpp:privilege:1 (ejabberd up to
// 24.07) and urn:xmpp:privilege:2 (Prosody mod_privilege, ejabberd 24.10+, XEP v0.4). The shapes are
// the same in both versions (v2 adds the `iq` permission); a privileged message must be wrapped in the
// version the server advertised. Server behaviour behind each rule: README, "Outbound: messages on behalf of users (XEP-0356)".
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { CLIENT_NS, FORWARD_NS, isDelegationVersion } from './delegation';
import { isDomainJid, jidToString, parseJid } from './jid';
import { fail, ok } from './result';
import type { Result } from './result';
import { ElementClass, childElements, cloneElement, describe, hasSignificantText, isElementNode, isUnprefixed, ownNamespace, quote } from './xml-util';

export const PRIVILEGE_NS_1 = 'urn:xmpp:privilege:1';
export const PRIVILEGE_NS_2 = 'urn:xmpp:privilege:2';

/** The privilege namespace doubles as the protocol version. */
export type PrivilegeVersion = typeof PRIVILEGE_NS_1 | typeof PRIVILEGE_NS_2;

export function isPrivilegeVersion(ns: unknown): ns is PrivilegeVersion {
  return ns === PRIVILEGE_NS_1 || ns === PRIVILEGE_NS_2;
}

/**
 * The privilege version of a stanza that carries a `<privilege/>` child in v1 or v2, else null: lets the
 * ingress tell privilege advertisements from other messages before parsing.
 */
export function privilegeVersionOf(stanza: Element): PrivilegeVersion | null {
  if (!isElementNode(stanza)) return null;
  for (const child of childElements(stanza)) {
    const ns = child.getNS();
    if (child.getName() === 'privilege' && isPrivilegeVersion(ns)) return ns;
  }
  return null;
}

export const ROSTER_PERMISSIONS = ['none', 'get', 'set', 'both'] as const;
export const MESSAGE_PERMISSIONS = ['none', 'outgoing'] as const;
export const PRESENCE_PERMISSIONS = ['none', 'managed_entity', 'roster'] as const;
export const IQ_PERMISSIONS = ['none', 'get', 'set', 'both'] as const;

export type RosterPermission = (typeof ROSTER_PERMISSIONS)[number];
export type MessagePermission = (typeof MESSAGE_PERMISSIONS)[number];
export type PresencePermission = (typeof PRESENCE_PERMISSIONS)[number];
export type IqPermission = (typeof IQ_PERMISSIONS)[number];

export interface IqNamespacePermission {
  namespace: string;
  type: IqPermission;
}

export interface PrivilegePermissions {
  roster: RosterPermission;
  message: MessagePermission;
  presence: PresencePermission;
  /** XEP-0356 v0.4 `iq` permission, one entry per namespace (always empty in v1). */
  iq: IqNamespacePermission[];
}

export interface PrivilegeAdvertisement {
  version: PrivilegeVersion;
  perms: PrivilegePermissions;
}

/** Who we are and which server we are attached to, as configured. */
export interface PrivilegeContext {
  serverDomain: string;
  componentDomain: string;
}

/** No permission at all: what a component holds before (or without) an advertisement. */
export const NO_PRIVILEGES: Readonly<PrivilegePermissions> = Object.freeze({
  roster: 'none',
  message: 'none',
  presence: 'none',
  iq: Object.freeze([]) as unknown as IqNamespacePermission[],
});

const SIMPLE_ACCESS = {
  roster: ROSTER_PERMISSIONS,
  message: MESSAGE_PERMISSIONS,
  presence: PRESENCE_PERMISSIONS,
} as const;
type SimpleAccess = keyof typeof SIMPLE_ACCESS;

function isSimpleAccess(access: string): access is SimpleAccess {
  return Object.hasOwn(SIMPLE_ACCESS, access);
}

/**
 * Reads the `<message><privilege><perm access type/>…` a server sends after we authenticate (XEP-0356
 * §3 "Server Allows Privileges"; protocol-notes §2).
 *
 * - Accepted only from the server domain exactly (not a user, not another domain); `to`, when present,
 *   must be the component.
 * - A permission that is not listed is `none`: Prosody lists only the permissions it grants, ejabberd
 *   all of them (with `type='none'` for the others).
 * - A value outside the XEP's set for roster/message/presence/iq is rejected with a reason, and so is a
 *   permission listed twice with different values; an `access` this codec does not know (and `iq` in
 *   v1, which predates it) is ignored: the component never uses a permission it cannot name.
 * - In `<perm access='iq'>`, a `<namespace ns/>` without `type` is `none` (Prosody writes it so for a
 *   namespace granted neither get nor set).
 */
export function parsePrivilegeAdvertisement(message: Element, ctx: PrivilegeContext): Result<PrivilegeAdvertisement> {
  const where = 'privilege advertisement';
  if (!isElementNode(message) || message.name !== 'message') {
    return fail(`${where}: not a <message/> (got ${isElementNode(message) ? `<${message.name}/>` : typeof message})`);
  }
  const from = message.attrs.from;
  if (from === undefined || from === '') return fail(`${where}: message has no from`, 'forbidden');
  if (!isDomainJid(from, ctx.serverDomain)) {
    return fail(`${where}: from ${quote(from)} is not the server domain ${quote(ctx.serverDomain)}`, 'forbidden');
  }
  const to = message.attrs.to;
  if (to !== undefined && !isDomainJid(to, ctx.componentDomain)) {
    return fail(`${where}: to ${quote(to)} is not the component domain ${quote(ctx.componentDomain)}`);
  }
  if (message.attrs.type === 'error') return fail(`${where}: message is of type 'error'`);

  const privileges = childElements(message).filter((c) => c.getName() === 'privilege');
  const supported = privileges.filter((p) => isPrivilegeVersion(p.getNS()));
  if (supported.length === 0) {
    const found = privileges[0];
    return fail(`${where}: message has no <privilege/> child in ${PRIVILEGE_NS_1} or ${PRIVILEGE_NS_2}` + (found ? ` (found ${describe(found)})` : ''));
  }
  if (supported.length > 1) return fail(`${where}: message has ${supported.length} <privilege/> children`);
  const privilege = supported[0] as Element;
  const version = privilege.getNS() as PrivilegeVersion;

  const simple: Partial<Record<SimpleAccess, string>> = {};
  const iq = new Map<string, IqPermission>();
  for (const perm of childElements(privilege)) {
    if (perm.getName() !== 'perm' || perm.getNS() !== version) continue;
    const access = perm.attrs.access;
    if (access === undefined || access === '') return fail(`${where}: <perm/> without an access attribute`);
    if (isSimpleAccess(access)) {
      const type = perm.attrs.type;
      if (type === undefined) return fail(`${where}: <perm access=${quote(access)}/> has no type`);
      const allowed: readonly string[] = SIMPLE_ACCESS[access];
      if (!allowed.includes(type)) {
        return fail(`${where}: unknown ${access} permission ${quote(type)} (expected one of ${allowed.join(', ')})`);
      }
      const previous = simple[access];
      if (previous !== undefined && previous !== type) {
        return fail(`${where}: ${access} permission listed twice, as ${quote(previous)} and ${quote(type)}`);
      }
      simple[access] = type;
    } else if (access === 'iq' && version === PRIVILEGE_NS_2) {
      for (const ns of childElements(perm)) {
        if (ns.getName() !== 'namespace' || ns.getNS() !== version) continue;
        const namespace = ns.attrs.ns;
        if (namespace === undefined || namespace === '') return fail(`${where}: <namespace/> without ns in the iq permission`);
        if (/[\s\u0000-\u001f]/.test(namespace)) return fail(`${where}: iq permission namespace ${quote(namespace)} contains whitespace or control characters`);
        const type = ns.attrs.type ?? 'none';
        if (!(IQ_PERMISSIONS as readonly string[]).includes(type)) {
          return fail(`${where}: unknown iq permission ${quote(type)} for ${quote(namespace)} (expected one of ${IQ_PERMISSIONS.join(', ')})`);
        }
        const previous = iq.get(namespace);
        if (previous !== undefined && previous !== type) {
          return fail(`${where}: iq permission for ${quote(namespace)} listed twice, as ${quote(previous)} and ${quote(type)}`);
        }
        iq.set(namespace, type as IqPermission);
      }
    }
    // other access values: not ours to interpret (see above)
  }
  return ok({
    version,
    perms: {
      roster: (simple.roster ?? 'none') as RosterPermission,
      message: (simple.message ?? 'none') as MessagePermission,
      presence: (simple.presence ?? 'none') as PresencePermission,
      iq: [...iq].map(([namespace, type]) => ({ namespace, type })),
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// Messages on behalf of local users

const MESSAGE_TYPES = new Set(['normal', 'chat', 'groupchat', 'headline', 'error']);
/** Stanza-level names that must never sit directly inside a message (they would be stanzas of their own). */
const STANZA_NAMES = new Set(['message', 'iq', 'presence']);
/** Namespaces of the stream and of our own wrappers: never legitimate inside a privileged message. */
const FORBIDDEN_NAMESPACES = new Set(['jabber:component:accept', 'jabber:server', 'http://etherx.jabber.org/streams']);

export interface PrivilegedOutboundContext {
  serverDomain: string;
}

/**
 * Validates a message a worker wants sent on behalf of a local user (XEP-0356 §4 "Message permission";
 * protocol-notes §2), before `buildPrivilegedMessage` wraps it. The stanza must be:
 * - an unprefixed `<message>` in `jabber:client` (xmlns written or absent), of an RFC 6121 type
 *   (anything else, an `<iq>` or `<presence>` included, is `bad-request`);
 * - `from` a BARE JID with a localpart on exactly the served domain: a full JID (the server refuses it and
 *   it would impersonate one session) gives `not-allowed`; another domain, the domain itself, no
 *   localpart, a missing `from` give `forbidden`; an unparsable one `jid-malformed`;
 * - `to` a valid JID (any domain: the server routes it as if the user had sent it);
 * - free of text directly under `<message>`, of stanza elements (`<iq>`, `<presence>`, `<message>` in
 *   jabber:client) directly under it, and of any element in a stream namespace
 *   (`jabber:component:accept`, `jabber:server`, streams) or of a privilege/delegation wrapper
 *   (a nested wrapper would let a worker speak as the component).
 *
 * Returns a normalized copy: `xmlns='jabber:client'` written, `from` in its normalized bare form,
 * whitespace-only text between the message's children dropped, payload children copied as they are.
 */
export function checkPrivilegedOutbound(inner: Element, ctx: PrivilegedOutboundContext): Result<Element> {
  const where = 'privileged message';
  if (!isElementNode(inner)) return fail(`${where}: not an element (got ${typeof inner})`);
  if (inner.getName() !== 'message') return fail(`${where}: not a <message/> (got <${inner.name}/>); only messages can be sent on behalf of users`);
  if (!isUnprefixed(inner)) return fail(`${where}: prefixed <message/> elements are not supported`);
  const ns = inner.attrs.xmlns;
  if (ns !== undefined && ns !== CLIENT_NS) return fail(`${where}: message namespace ${quote(ns)} is not ${CLIENT_NS}`);

  const server = parseJid(ctx.serverDomain);
  if (!server || server.local !== undefined || server.resource !== undefined) {
    return fail(`${where}: configured server domain ${quote(ctx.serverDomain)} is not a domain JID`, 'internal-server-error');
  }
  const from = inner.attrs.from;
  if (from === undefined || from === '') return fail(`${where}: message has no from (it must be a bare JID of ${quote(ctx.serverDomain)})`, 'forbidden');
  const fromJid = parseJid(from);
  if (!fromJid) return fail(`${where}: from ${quote(from)} is not a valid JID`, 'jid-malformed');
  if (fromJid.domain !== server.domain) {
    return fail(`${where}: from ${quote(from)} is not on the served domain ${quote(ctx.serverDomain)}`, 'forbidden');
  }
  if (fromJid.local === undefined) {
    return fail(`${where}: from ${quote(from)} is the server domain itself, not a user`, 'forbidden');
  }
  if (fromJid.resource !== undefined) {
    return fail(`${where}: from ${quote(from)} is a full JID; only bare JIDs of local users may be used`, 'not-allowed');
  }

  const to = inner.attrs.to;
  if (to === undefined || to === '') return fail(`${where}: message has no to`);
  if (parseJid(to) === null) return fail(`${where}: to ${quote(to)} is not a valid JID`, 'jid-malformed');

  const type = inner.attrs.type;
  if (type !== undefined && !MESSAGE_TYPES.has(type)) return fail(`${where}: unknown message type ${quote(type)}`);
  if (hasSignificantText(inner)) return fail(`${where}: message contains text outside its child elements`);

  for (const child of childElements(inner)) {
    const childNs = child.getNS();
    if (STANZA_NAMES.has(child.getName()) && (childNs === CLIENT_NS || childNs === undefined || childNs === '')) {
      return fail(`${where}: a <${child.getName()}/> stanza inside the message is not allowed`);
    }
  }
  const smuggled = forbiddenDeclaration(inner) ?? findForbidden(inner);
  if (smuggled) return fail(`${where}: ${smuggled}`);

  const attrs: Record<string, string> = { xmlns: CLIENT_NS };
  for (const [k, v] of Object.entries(inner.attrs)) {
    if (k !== 'xmlns') attrs[k] = k === 'from' ? jidToString({ local: fromJid.local, domain: fromJid.domain }) : v;
  }
  const normalized = new ElementClass('message', attrs);
  for (const child of inner.children) {
    if (isElementNode(child)) normalized.cnode(cloneElement(child));
  }
  return ok(normalized);
}

/** A declaration (`xmlns` or `xmlns:p`) of a stream namespace on `el`, described; else null. */
function forbiddenDeclaration(el: Element): string | null {
  for (const [attr, value] of Object.entries(el.attrs)) {
    if ((attr === 'xmlns' || attr.startsWith('xmlns:')) && FORBIDDEN_NAMESPACES.has(value)) {
      return `a declaration of the stream namespace ${quote(value)} is not allowed`;
    }
  }
  return null;
}

/** First element below `el` in a stream namespace or in a privilege/delegation namespace, described; else null. */
function findForbidden(el: Element): string | null {
  for (const child of childElements(el)) {
    const declared = forbiddenDeclaration(child);
    if (declared) return declared;
    const ns = ownNamespace(child) ?? child.getNS();
    if (ns !== undefined && ns !== '') {
      if (FORBIDDEN_NAMESPACES.has(ns)) return `element <${child.name}/> in the stream namespace ${quote(ns)} is not allowed`;
      if (isPrivilegeVersion(ns) || isDelegationVersion(ns)) return `a nested ${describe(child)} wrapper is not allowed`;
    }
    const deeper = findForbidden(child);
    if (deeper) return deeper;
  }
  return null;
}

function withoutKeys(attrs: Record<string, string>, keys: string[]): Record<string, string> {
  const rest: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (!keys.includes(k)) rest[k] = v;
  return rest;
}

export interface PrivilegedMessageAddressing {
  componentDomain: string;
  serverDomain: string;
  /** Optional id of the outer message: the server's error reply (forbidden, bad-request) echoes it. */
  id?: string;
}

/**
 * The privileged message (XEP-0356 §4, protocol-notes §2):
 * `<message from=component to=server [id]><privilege xmlns=version><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from to>…`.
 * `version` must be the one the server advertised: ejabberd answers `bad-request` to the other one.
 * `inner` should come from `checkPrivilegedOutbound`; it is copied with `xmlns='jabber:client'` written
 * and without the text nodes of the message level, so that the wrapper chain holds no text node at all
 * (Prosody checks that `<privilege/>` has exactly one child tag).
 */
export function buildPrivilegedMessage(version: PrivilegeVersion, addressing: PrivilegedMessageAddressing, inner: Element): Element {
  if (!isPrivilegeVersion(version)) throw new TypeError(`buildPrivilegedMessage: unknown privilege version ${String(version)}`);
  const message = new ElementClass('message', { xmlns: CLIENT_NS, ...withoutKeys(inner.attrs, ['xmlns']) });
  for (const child of inner.children) {
    if (isElementNode(child)) message.cnode(cloneElement(child));
  }
  const attrs: Record<string, string> = { from: addressing.componentDomain, to: addressing.serverDomain };
  if (addressing.id !== undefined) attrs.id = addressing.id;
  return xml('message', attrs, xml('privilege', { xmlns: version }, xml('forwarded', { xmlns: FORWARD_NS }, message)));
}
