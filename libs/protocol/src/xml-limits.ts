import { ProtocolError, type ProtocolErrorCode } from './errors';

/**
 * Bounds on one XML element (a stanza, a worker reply, a client's answer), enforced while it is parsed so
 * that nothing recursive (ltx serialisation, clone, getChild*) ever runs on a tree that has not passed
 * them. Sizes are UTF-8 bytes as sent (before entity decoding).
 */
export interface XmlLimits {
  /** Whole element, markup included. */
  maxBytes: number;
  /** Nesting, the root being depth 1. */
  maxDepth: number;
  /** Elements in the tree, the root included. */
  maxElements: number;
  /** Attributes on one element, namespace declarations included. */
  maxAttributes: number;
  /** One attribute value. */
  maxAttributeBytes: number;
  /** Character data directly inside one element (all its text nodes and CDATA sections together). */
  maxTextBytes: number;
}

/**
 * Defaults sized for real clients: the bytes cap is Prosody's `c2s_stanza_size_limit` (256 KiB), so an
 * avatar in base64 text may fill a whole stanza; real stanzas nest a dozen levels (an XHTML body inside a
 * PEP item inside the delegation envelope stays under 30); an OMEMO bundle has ~110 elements and the
 * largest roster that fits 256 KiB ~5,000 items (with groups ~10,000 elements); XMPP elements carry a
 * handful of attributes; attribute values are JIDs (at most 3,071 bytes), ids and node names.
 */
export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxBytes: 262_144,
  maxDepth: 128,
  maxElements: 10_000,
  maxAttributes: 64,
  maxAttributeBytes: 16_384,
  maxTextBytes: 262_144,
});

/** Longest element or attribute name accepted (no real name comes close; not configurable). */
export const MAX_XML_NAME_CHARS = 1024;

/**
 * `limits` with the missing fields taken from the defaults, except the text limit, which follows
 * `maxBytes` when not given (raising the stanza size alone must not leave avatars refused as text).
 */
export function resolveXmlLimits(limits: Partial<XmlLimits> = {}): XmlLimits {
  const out = { ...DEFAULT_XML_LIMITS };
  for (const key of Object.keys(out) as Array<keyof XmlLimits>) {
    const v = limits[key];
    if (v !== undefined) out[key] = v;
  }
  if (limits.maxTextBytes === undefined && limits.maxBytes !== undefined) out.maxTextBytes = limits.maxBytes;
  return out;
}

/**
 * For XML the broker stored itself after it passed the limits on the way in (pubsub items, archived
 * messages): no size limits (items stored before a limit was lowered stay readable), but the depth
 * cap, which protects the recursive code that serialises them.
 */
export const STORED_XML_LIMITS: Readonly<Partial<XmlLimits>> = Object.freeze({
  maxBytes: Number.POSITIVE_INFINITY,
  maxElements: Number.POSITIVE_INFINITY,
  maxAttributes: Number.POSITIVE_INFINITY,
  maxAttributeBytes: Number.POSITIVE_INFINITY,
  maxTextBytes: Number.POSITIVE_INFINITY,
});

/** The ProtocolError code of each limit; they double as the `reason` label of rejection metrics. */
export type XmlLimitCode = Extract<
  ProtocolErrorCode,
  'too-large' | 'too-deep' | 'too-many-elements' | 'too-many-attributes' | 'attribute-too-long' | 'text-too-long' | 'name-too-long'
>;

export const XML_LIMIT_CODES: readonly XmlLimitCode[] = [
  'too-large',
  'too-deep',
  'too-many-elements',
  'too-many-attributes',
  'attribute-too-long',
  'text-too-long',
  'name-too-long',
];

export function isXmlLimitCode(code: unknown): code is XmlLimitCode {
  return typeof code === 'string' && (XML_LIMIT_CODES as readonly string[]).includes(code);
}

/** The error for a limit crossed at `offset` (UTF-16 offset in the input, when known). */
export function limitError(code: XmlLimitCode, message: string, offset?: number): ProtocolError {
  return new ProtocolError(code, message, offset === undefined ? {} : { offset });
}

/** UTF-8 length of `s.slice(from, to)` without building the slice. */
export function utf8Length(s: string, from = 0, to = s.length): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    // A surrogate half counts 2: a pair makes the 4 bytes of its code point, a lone one the 3 of U+FFFD (+1).
    else if (c >= 0xd800 && c <= 0xdfff) n += 2;
    else n += 3;
  }
  return n;
}
