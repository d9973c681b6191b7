/**
 * The one JID module of the broker: parsing after RFC 7622 §3 and the normalised form under which every
 * address is stored and compared (node owners, affiliations and so whitelists and outcasts,
 * subscriptions, roster items, presence sessions, MAM access).
 *
 * What is normalised, without a PRECIS library:
 * - localpart and domainpart: `String.prototype.toLowerCase()` (Unicode default case mapping: `Mallory`,
 *   `MALLORY`, `É`, `Σ` and other cased letters of any script fold alike); a trailing dot of the
 *   domainpart is dropped (RFC 7622 §3.2).
 * - resourcepart: kept exactly as sent (RFC 7622 §3.4: it is case-sensitive).
 * NOT done: Unicode normalisation form C, width mapping (fullwidth letters stay as they are), IDNA
 * A-label/U-label conversion, the PRECIS disallowed-code-point tables beyond the checks below. The XMPP
 * server has applied those to what it routes; what a client writes into a payload attribute (an
 * affiliation's `jid`) is folded here and refused when it fails the checks.
 */
export interface Jid {
  local?: string;
  domain: string;
  resource?: string;
}

/** RFC 7622 §3.1: each part is 1 to 1023 octets. */
const MAX_PART_BYTES = 1023;
const MAX_LABEL_BYTES = 63;
// C0, DEL and C1 controls are refused in every part.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// RFC 7622 §3.3.1 forbids these in the localpart; whitespace and invisible format characters (bidi
// overrides, zero-width spaces: \p{Cf}) are not allowed by the PRECIS IdentifierClass either.
const LOCAL_FORBIDDEN = /["&'/:<>@\s\p{Cf}]/u;
// In a domain label: ASCII other than letters, digits, '-' and '_' (seen in the wild), whitespace, \p{Cf}.
const LABEL_FORBIDDEN = /[\u0000-\u002c./:-@[-^`{-\u007f\s\p{Cf}]/u;
const IPV6_LITERAL = /^\[[0-9a-f:.]*:[0-9a-f:.]*\]$/;

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function validPart(s: string): boolean {
  return s.length > 0 && utf8Length(s) <= MAX_PART_BYTES;
}

function normalizeDomain(raw: string): string | null {
  let domain = raw.toLowerCase();
  // RFC 7622 §3.2: a trailing dot is not part of the domain name.
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (!validPart(domain)) return null;
  if (domain.startsWith('[')) return IPV6_LITERAL.test(domain) ? domain : null;
  for (const label of domain.split('.')) {
    if (label === '' || utf8Length(label) > MAX_LABEL_BYTES || LABEL_FORBIDDEN.test(label)) return null;
  }
  return domain;
}

/** Parse and normalize a JID string (RFC 7622 §3.1); null when it is not a valid JID. */
export function parseJid(s: string): Jid | null {
  if (typeof s !== 'string' || s === '' || CONTROL.test(s) || LONE_SURROGATE.test(s)) return null;
  const slash = s.indexOf('/');
  const beforeResource = slash >= 0 ? s.slice(0, slash) : s;
  const resource = slash >= 0 ? s.slice(slash + 1) : undefined;
  if (resource !== undefined && !validPart(resource)) return null;
  const at = beforeResource.indexOf('@');
  let local: string | undefined;
  if (at >= 0) {
    local = beforeResource.slice(0, at).toLowerCase();
    if (!validPart(local) || LOCAL_FORBIDDEN.test(local)) return null;
  }
  const domain = normalizeDomain(at >= 0 ? beforeResource.slice(at + 1) : beforeResource);
  if (domain === null) return null;
  const jid: Jid = { domain };
  if (local !== undefined) jid.local = local;
  if (resource !== undefined) jid.resource = resource;
  return jid;
}

/** The normalised form of `s` (see above; resource kept), or null when `s` is not a valid JID. */
export function normalizeJid(s: string): string | null {
  const jid = parseJid(s);
  return jid && jidToString(jid);
}

/**
 * The normalised bare JID of `s` as a storage and lookup key: `''` when `s` is not a valid JID, which is
 * no account (nothing valid normalises to it). Callers that store it refuse `''` first.
 */
export function accountJid(s: string): string {
  return bareJid(s) ?? '';
}

export function jidToString(jid: Jid): string {
  const bare = jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`;
  return jid.resource === undefined ? bare : `${bare}/${jid.resource}`;
}

/** The normalized bare JID (localpart@domainpart) of `s`, or null when `s` is not a valid JID. */
export function bareJid(s: string): string | null {
  const jid = parseJid(s);
  if (!jid) return null;
  return jidToString({ ...(jid.local === undefined ? {} : { local: jid.local }), domain: jid.domain });
}

export function isBareJid(s: string): boolean {
  const jid = parseJid(s);
  return jid !== null && jid.resource === undefined;
}

export function isFullJid(s: string): boolean {
  const jid = parseJid(s);
  return jid !== null && jid.resource !== undefined;
}

/** True when both are valid JIDs with the same normalized bare JID. */
export function sameBareJid(a: string, b: string): boolean {
  const x = bareJid(a);
  return x !== null && x === bareJid(b);
}

/** True when `s` is exactly a domain JID (no localpart, no resource) equal to `domain` after normalization. */
export function isDomainJid(s: string, domain: string): boolean {
  const jid = parseJid(s);
  const expected = parseJid(domain);
  return (
    jid !== null &&
    expected !== null &&
    jid.local === undefined &&
    jid.resource === undefined &&
    expected.local === undefined &&
    expected.resource === undefined &&
    jid.domain === expected.domain
  );
}
