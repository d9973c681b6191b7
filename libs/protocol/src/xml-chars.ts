// XML 1.0 character-level rules shared by the strict parser (xml-parse.ts) and the stream parser.

/** XML 1.0 §2.2 Char, negated. With the `u` flag a lone surrogate is its own code point, so it matches too. */
export const ILLEGAL_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const NAME_START =
  ':A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_REST = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
/** XML 1.0 §2.3 Name, matched at a position (sticky). */
export const NAME_AT = new RegExp(`[${NAME_START}][${NAME_REST}]*`, 'uy');
/** XML 1.0 §2.3 Name, the whole string. */
export const NAME_EXACT = new RegExp(`^[${NAME_START}][${NAME_REST}]*$`, 'u');

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

const REFERENCE = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/**
 * Replaces the predefined entity and character references of `raw`; `fail` is called (and must throw)
 * for anything else starting with '&' or a reference to an illegal character, with its index in `raw`.
 * There is no DTD in XMPP, hence no other entity and no expansion beyond one character per reference.
 */
export function decodeReferences(raw: string, fail: (message: string, index: number) => never): string {
  let amp = raw.indexOf('&');
  if (amp < 0) return raw;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    REFERENCE.lastIndex = amp;
    const m = REFERENCE.exec(raw);
    if (!m) fail('unescaped & or unknown entity reference', amp);
    out += raw.slice(from, amp);
    if (m[1] !== undefined) {
      out += PREDEFINED[m[1]];
    } else {
      const cp = m[2] !== undefined ? Number.parseInt(m[2], 10) : Number.parseInt(m[3] ?? '', 16);
      if (!isXmlChar(cp)) fail(`character reference to an illegal character (${m[0]})`, amp);
      out += String.fromCodePoint(cp);
    }
    from = amp + m[0].length;
    amp = raw.indexOf('&', from);
  }
  return out + raw.slice(from);
}
