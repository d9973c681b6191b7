import type { Element } from '@xmpp/xml';
import { ProtocolError } from './errors';
import { ElementClass, cloneElement, isElementNode, isWhitespaceText } from './xml-util';
import { ILLEGAL_CHAR, NAME_AT, XML_NS, decodeReferences } from './xml-chars';
import { DEFAULT_XML_LIMITS, MAX_XML_NAME_CHARS, limitError, resolveXmlLimits, utf8Length, type XmlLimits } from './xml-limits';

/** Prosody's default `c2s_stanza_size_limit` (256 KiB). */
export const DEFAULT_MAX_XML_BYTES = DEFAULT_XML_LIMITS.maxBytes;
/** Real stanzas nest a dozen levels at most; the cap keeps recursive consumers off deep trees. */
export const DEFAULT_MAX_XML_DEPTH = DEFAULT_XML_LIMITS.maxDepth;

/** Limits of `parseXml`; each missing one takes its DEFAULT_XML_LIMITS value. */
export type ParseXmlOptions = Partial<XmlLimits>;


/**
 * Strict parse of exactly one XML element, in the restricted XML of RFC 6120 §11.1.
 *
 * ltx's own SAX parser is permissive (it accepts mismatched end tags, unquoted attributes, unknown
 * entities, text around the root), so this is a small well-formedness-checking tokenizer that builds
 * ordinary ltx elements. It rejects: several roots, text outside the root, comments, processing
 * instructions (the XML declaration included), DTDs, undeclared namespace prefixes, duplicate
 * attributes, `xmlns=""` (ltx would resolve such an element to its parent's namespace), illegal
 * characters and references, and input over any of the limits (`XmlLimits`: bytes, depth, element
 * count, attributes per element, attribute value and text size), checked as the input is read, before
 * any tree is complete. CDATA sections become text. Line ends and attribute whitespace are normalised as XML 1.0 §2.11 and §3.3.3 require.
 *
 * @throws ProtocolError and nothing else.
 */
export function parseXml(text: string, opts: ParseXmlOptions = {}): Element {
  if (typeof text !== 'string') throw new ProtocolError('malformed-xml', 'XML input is not a string');
  const limits = resolveXmlLimits(opts);
  const maxBytes = limits.maxBytes;
  // UTF-8 never takes fewer bytes than UTF-16 code units, so the cheap test settles most oversize input.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new ProtocolError('too-large', `XML input is ${Buffer.byteLength(text, 'utf8')} bytes, over the ${maxBytes}-byte limit`);
  }
  const bad = ILLEGAL_CHAR.exec(text);
  if (bad) {
    const cp = bad[0].codePointAt(0) ?? 0;
    throw new ProtocolError('malformed-xml', `illegal XML character U+${cp.toString(16).toUpperCase().padStart(4, '0')} at offset ${bad.index}`, { offset: bad.index });
  }
  return new StrictParser(text, limits).parseDocument();
}

interface Frame {
  el: Element;
  /** prefix -> namespace in scope for this element's content */
  prefixes: ReadonlyMap<string, string>;
  /** Character data read so far directly inside `el`, UTF-8 bytes as sent. */
  textBytes: number;
}

const ROOT_PREFIXES: ReadonlyMap<string, string> = new Map([['xml', XML_NS]]);

class StrictParser {
  private i = 0;
  private elements = 0;

  constructor(
    private readonly s: string,
    private readonly limits: XmlLimits,
  ) {}

  parseDocument(): Element {
    this.skipWhitespace();
    if (this.i >= this.s.length) this.fail('no root element');
    if (this.s[this.i] !== '<') this.fail('text before the root element');
    this.rejectRestricted();
    const root = this.parseTree();
    this.skipWhitespace();
    if (this.i < this.s.length) {
      if (this.s[this.i] !== '<') this.fail('text after the root element');
      this.rejectRestricted();
      this.fail('more than one root element');
    }
    return root;
  }

  private parseTree(): Element {
    const stack: Frame[] = [];
    let root: Element | undefined;
    for (;;) {
      const top = stack[stack.length - 1];
      if (top) this.readText(top);
      // Here s[i] === '<' (readText stops there or fails on end of input).
      if (this.s.startsWith('</', this.i)) {
        if (!top) this.fail('end tag without a start tag');
        this.i += 2;
        const name = this.readName('element name');
        this.skipWhitespace();
        this.expect('>');
        if (name !== top.el.name) this.fail(`end tag </${name}> does not match <${top.el.name}>`);
        stack.pop();
        if (stack.length === 0 && root) return root;
        continue;
      }
      if (this.s.startsWith('<![CDATA[', this.i)) {
        if (!top) this.fail('CDATA outside the root element');
        const end = this.s.indexOf(']]>', this.i + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        this.countText(top, this.i + 9, end);
        appendText(top.el, normalizeLineEnds(this.s.slice(this.i + 9, end)));
        this.i = end + 3;
        continue;
      }
      this.rejectRestricted();
      const parentPrefixes = top ? top.prefixes : ROOT_PREFIXES;
      if (stack.length + 1 > this.limits.maxDepth) {
        throw limitError('too-deep', `XML nesting exceeds ${this.limits.maxDepth} levels at offset ${this.i}`, this.i);
      }
      if (++this.elements > this.limits.maxElements) {
        throw limitError('too-many-elements', `XML has more than ${this.limits.maxElements} elements (offset ${this.i})`, this.i);
      }
      const { el, prefixes, selfClosing } = this.readStartTag(parentPrefixes);
      if (top) top.el.cnode(el);
      else root = el;
      if (selfClosing) {
        if (!top) return el;
      } else {
        stack.push({ el, prefixes, textBytes: 0 });
      }
    }
  }

  /** Reads character data up to the next '<', appending it to the frame's element. */
  private readText(frame: Frame): void {
    const el = frame.el;
    const lt = this.s.indexOf('<', this.i);
    if (lt < 0) this.fail(`unexpected end of input inside <${el.name}>`);
    if (lt > this.i) {
      this.countText(frame, this.i, lt);
      const raw = this.s.slice(this.i, lt);
      const close = raw.indexOf(']]>');
      if (close >= 0) this.fail("']]>' in character data", this.i + close);
      appendText(el, this.decode(normalizeLineEnds(raw), this.i));
      this.i = lt;
    }
  }

  private countText(frame: Frame, from: number, to: number): void {
    frame.textBytes += utf8Length(this.s, from, to);
    if (frame.textBytes > this.limits.maxTextBytes) {
      throw limitError('text-too-long', `text of <${frame.el.name}> exceeds ${this.limits.maxTextBytes} bytes (offset ${from})`, from);
    }
  }

  private readStartTag(parentPrefixes: ReadonlyMap<string, string>): {
    el: Element;
    prefixes: ReadonlyMap<string, string>;
    selfClosing: boolean;
  } {
    const tagStart = this.i;
    this.i += 1;
    const name = this.readName('element name');
    const attrs = new Map<string, string>();
    let selfClosing = false;
    for (;;) {
      const hadSpace = this.skipWhitespace();
      if (this.i >= this.s.length) this.fail(`unexpected end of input in start tag <${name}>`);
      const c = this.s[this.i];
      if (c === '>') {
        this.i += 1;
        break;
      }
      if (c === '/') {
        this.i += 1;
        this.expect('>');
        selfClosing = true;
        break;
      }
      if (!hadSpace) this.fail(`missing whitespace before an attribute in <${name}>`);
      if (attrs.size >= this.limits.maxAttributes) {
        throw limitError('too-many-attributes', `<${name}> has more than ${this.limits.maxAttributes} attributes (offset ${this.i})`, this.i);
      }
      const attrName = this.readName('attribute name');
      this.skipWhitespace();
      this.expect('=');
      this.skipWhitespace();
      const quote = this.s[this.i];
      if (quote !== '"' && quote !== "'") this.fail(`value of attribute ${attrName} is not quoted`);
      const end = this.s.indexOf(quote, this.i + 1);
      if (end < 0) this.fail(`unterminated value of attribute ${attrName}`);
      if (utf8Length(this.s, this.i + 1, end) > this.limits.maxAttributeBytes) {
        throw limitError('attribute-too-long', `value of attribute ${attrName} on <${name}> exceeds ${this.limits.maxAttributeBytes} bytes`, this.i + 1);
      }
      const raw = this.s.slice(this.i + 1, end);
      const lt = raw.indexOf('<');
      if (lt >= 0) this.fail(`'<' in the value of attribute ${attrName}`, this.i + 1 + lt);
      if (attrs.has(attrName)) this.fail(`duplicate attribute ${attrName} on <${name}>`);
      // Object.assign inside the ltx Element constructor would treat it as the prototype setter.
      if (attrName === '__proto__') this.fail('attribute name __proto__ is not supported');
      attrs.set(attrName, this.decode(normalizeAttributeWhitespace(raw), this.i + 1));
      this.i = end + 1;
    }
    const prefixes = this.checkNamespaces(name, attrs, parentPrefixes, tagStart);
    return { el: new ElementClass(name, Object.fromEntries(attrs)), prefixes, selfClosing };
  }

  /** Namespaces in XML 1.0: declarations are legal and every prefix used is bound. */
  private checkNamespaces(
    name: string,
    attrs: ReadonlyMap<string, string>,
    parentPrefixes: ReadonlyMap<string, string>,
    at: number,
  ): ReadonlyMap<string, string> {
    let prefixes = parentPrefixes;
    for (const [attr, value] of attrs) {
      if (attr === 'xmlns') {
        if (value === '') this.fail(`empty default namespace declaration on <${name}> is not supported`, at);
        continue;
      }
      if (!attr.startsWith('xmlns:')) continue;
      const prefix = attr.slice(6);
      if (value === '') this.fail(`namespace prefix ${prefix} is bound to an empty name`, at);
      if (prefix === 'xmlns' || (prefix === 'xml') !== (value === XML_NS)) {
        this.fail(`illegal declaration of namespace prefix ${prefix}`, at);
      }
      if (prefixes === parentPrefixes) prefixes = new Map(parentPrefixes);
      (prefixes as Map<string, string>).set(prefix, value);
    }
    const elementPrefix = prefixOf(name);
    if (elementPrefix === 'xmlns') this.fail(`element name ${name} uses the reserved prefix xmlns`, at);
    if (elementPrefix !== undefined && !prefixes.has(elementPrefix)) {
      this.fail(`undeclared namespace prefix ${elementPrefix} in <${name}>`, at);
    }
    for (const attr of attrs.keys()) {
      const p = prefixOf(attr);
      if (p !== undefined && p !== 'xmlns' && !prefixes.has(p)) {
        this.fail(`undeclared namespace prefix ${p} in attribute ${attr}`, at);
      }
    }
    return prefixes;
  }

  private readName(what: string): string {
    NAME_AT.lastIndex = this.i;
    const m = NAME_AT.exec(this.s);
    if (!m) this.fail(this.i >= this.s.length ? `unexpected end of input, expected ${what}` : `expected ${what}`);
    const name = m[0];
    if (name.length > MAX_XML_NAME_CHARS) throw limitError('name-too-long', `${what} longer than ${MAX_XML_NAME_CHARS} characters (offset ${this.i})`, this.i);
    const colon = name.indexOf(':');
    if (colon === 0 || colon === name.length - 1 || (colon > 0 && name.indexOf(':', colon + 1) >= 0)) {
      this.fail(`${what} ${name} is not a valid qualified name`);
    }
    this.i += name.length;
    return name;
  }

  /** Rejects the markup RFC 6120 §11.1 forbids; returns when `s[i]` starts an element or end tag. */
  private rejectRestricted(): void {
    const s = this.s;
    const i = this.i;
    if (s.startsWith('<!--', i)) this.restricted('XML comments are not allowed (RFC 6120 §11.1)');
    if (s.startsWith('<?', i)) this.restricted('processing instructions are not allowed (RFC 6120 §11.1)');
    if (s.startsWith('<!', i)) this.restricted('DTDs and markup declarations are not allowed (RFC 6120 §11.1)');
  }

  /** Replaces entity and character references; anything else starting with '&' is an error. */
  private decode(raw: string, at: number): string {
    return decodeReferences(raw, (message, index) => this.fail(message, at + index));
  }

  private skipWhitespace(): boolean {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.i += 1;
    }
    return this.i > start;
  }

  private expect(ch: string): void {
    if (this.s[this.i] !== ch) {
      this.fail(this.i >= this.s.length ? `unexpected end of input, expected '${ch}'` : `expected '${ch}'`);
    }
    this.i += 1;
  }

  private fail(message: string, offset = this.i): never {
    throw new ProtocolError('malformed-xml', `malformed XML at offset ${offset}: ${message}`, { offset });
  }

  private restricted(message: string): never {
    throw new ProtocolError('restricted-xml', `${message} (offset ${this.i})`, { offset: this.i });
  }
}

function prefixOf(qname: string): string | undefined {
  const colon = qname.indexOf(':');
  return colon > 0 ? qname.slice(0, colon) : undefined;
}

function normalizeLineEnds(s: string): string {
  return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
}

function normalizeAttributeWhitespace(s: string): string {
  return s.replace(/\r\n|[\r\n\t]/g, ' ');
}

/** Adjacent text (e.g. text then CDATA) becomes one text node. */
function appendText(el: Element, text: string): void {
  if (text === '') return;
  const last = el.children.length - 1;
  const prev = el.children[last];
  if (typeof prev === 'string') el.children[last] = prev + text;
  else el.children.push(text);
}

export interface StripWhitespaceOptions {
  /**
   * How many levels to clean: 1 cleans only the element's own children, 4 covers an outer
   * delegation IQ down to the forwarded IQ's children. Default: the whole tree.
   */
  levels?: number;
}

/**
 * A copy of `el` without whitespace-only text nodes. Prosody's mod_delegation counts every child
 * node (`#stanza`) of the reply wrapper and of the inner IQ and silently drops replies where
 * indentation adds any (protocol-notes §1.4). Subtrees marked `xml:space='preserve'` are kept as is.
 *
 * Stripping a whole payload is lossy for mixed content (`<b>a</b> <i>b</i>`) and for leaf text that
 * is only spaces, so the delegation codec strips the envelope levels only and leaves payloads intact.
 */
export function stripWhitespace(el: Element, opts: StripWhitespaceOptions = {}): Element {
  return strip(el, opts.levels ?? Number.POSITIVE_INFINITY);
}

function strip(el: Element, levels: number): Element {
  if (levels <= 0 || el.attrs['xml:space'] === 'preserve') return cloneElement(el);
  const copy = new ElementClass(el.name, { ...el.attrs });
  for (const child of el.children) {
    if (typeof child === 'string') {
      if (!isWhitespaceText(child)) copy.children.push(child);
    } else if (isElementNode(child)) {
      copy.cnode(strip(child, levels - 1));
    }
  }
  return copy;
}

/** Size of the element as serialized by ltx, in UTF-8 bytes. */
export function byteLength(el: Element): number {
  return Buffer.byteLength(el.toString(), 'utf8');
}
