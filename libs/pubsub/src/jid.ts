/**
 * Tiny JID helpers for the engine (the protocol lib owns full JID parsing; the engine only needs to
 * compare a requester's bare JID with a service owner). The XMPP server hands us normalised JIDs.
 */

/** `local@domain/resource` → `local@domain`; the resource starts at the first `/` (RFC 7622 §3.1). */
export function bareJid(jid: string): string {
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}

/** True when `actor` (full or bare) belongs to the account `owner` (bare). */
export function isSameAccount(actor: string, owner: string): boolean {
  return bareJid(actor) === bareJid(owner);
}
