import { EventEmitter } from 'node:events';
import type { Element } from '@xmpp/xml';
import { ProtocolError } from './errors';
import { MAX_XML_NAME_CHARS, resolveXmlLimits, utf8Length, type XmlLimitCode, type XmlLimits } from './xml-limits';
import { SKELETON_ATTRS, SKELETON_DEPTH, StanzaSkeleton } from './stanza-skeleton';

const ADDRESSING_ATTRS: ReadonlySet<string> = new Set(['id', 'from', 'to', 'type']);
import { ILLEGAL_CHAR, NAME_EXACT, XML_NS, decodeReferences } from './xml-chars';
import { ElementClass } from './xml-util';

/**
 * A stanza the stream parser refused because it crossed a limit. The stream lives on: the parser
 * skipped to the stanza's end. `stanza` is a skeleton built from what was captured on the way (never
 * the content): the top-level element with its addressing attributes and, when the stanza is a
 * forwarded IQ, the `<delegation>` / `<forwarded>` / inner `<iq>` chain with the inner IQ's
 * from/to/id/type and the payload's first two levels (name and namespace), so that the refusal can be
 * answered inside a proper delegation wrapper (`wrapBrokenRequestError` accepts the skeleton as is).
 */
export interface RejectedStanza {
  /** The limit crossed, or `unsupported-xml` (see ProtocolErrorCode). */
  code: XmlLimitCode | 'unsupported-xml';
  reason: string;
  name: string;
  attrs: Record<string, string>;
  stanza: Element;
}

/** Events: `start` (stream root), `element` (a stanza), `rejected` (RejectedStanza), `end` (root), `error`. */
export interface StreamParserEvents {
  start: [Element];
  element: [Element];
  rejected: [RejectedStanza];
  end: [Element];
  error: [ProtocolError];
}

const enum S {
  Text,
  Lt,
  Bang,
  Cdata,
  Pi,
  StartName,
  Tag,
  SelfClose,
  AttrName,
  AttrEq,
  AttrQuote,
  AttrValue,
  EndName,
  EndTag,
}

/** Bytes allowed before the stream root (XML declaration, whitespace). */
const MAX_PROLOG_BYTES = 4096;
const WHITESPACE = /^[ \t\r\n]*$/;
const NEEDS_ATTR_NORMALIZING = /[\r\n\t]/;

function isDelimiter(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x2f /* / */ || c === 0x3e /* > */ || c === 0x3d /* = */;
}
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

interface Frame {
  el: Element;
  textBytes: number;
}


/**
 * Incremental parser of an XMPP stream (`<stream:stream>` and its stanzas) that enforces `XmlLimits`
 * on every stanza WHILE it reads it: the tree of a stanza over a limit is dropped at once, the rest of
 * the stanza is skipped with a depth counter only (memory stays bounded whatever follows), and a
 * `rejected` event reports it. Only what can't be recovered from (not well-formed XML, markup RFC 6120
 * §11.1 forbids) is an `error`, after which the parser ignores its input, like a server closing the stream.
 *
 * Drop-in for the `Parser` of @xmpp/connection (same `start` / `element` / `end` / `error` events, stanza
 * `parent` set to the stream root as ltx does). The stream root's own text children are never kept
 * (ltx appends whitespace keep-alives to it forever).
 */
export class BoundedStreamParser extends EventEmitter<StreamParserEvents> {
  readonly limits: XmlLimits;
  private state = S.Text;
  private root: Element | null = null;
  private dead = false;
  /** UTF-8 bytes consumed in earlier writes plus this write's up to `counted`. */
  private bytes = 0;
  private data = '';
  private counted = 0;

  // The stanza being read (depth counts its open elements, the stanza itself being depth 1).
  private depth = 0;
  /** Between a stanza's first '<' and its end. */
  private inStanza = false;
  private stanzaStart = 0;
  private elements = 0;
  private stack: Frame[] = [];
  private skip: { code: RejectedStanza['code']; reason: string } | null = null;
  private readonly skeleton = new StanzaSkeleton();

  // Tokens in progress.
  private name = '';
  private nameOverflow = false;
  /** Name of the start tag being read (`name` goes on to hold its attribute names). */
  private elName = '';
  private elNameOverflow = false;
  /** Whitespace seen since the last token of the start tag (attributes must be separated). */
  private tagSpace = false;
  private attrs: Record<string, string> = {};
  private attrCount = 0;
  private attrName = '';
  private attrValue = '';
  private attrKeep = false;
  private attrBytes = 0;
  private quote = 0;
  private text = '';
  private cdata = '';
  private bang = '';
  private brackets = 0;
  private piQuestion = false;

  private readonly validNames = new Set<string>();
  private readonly failDecode = (message: string): never => this.fatal('malformed-xml', message);

  constructor(limits: Partial<XmlLimits> = {}) {
    super();
    this.limits = resolveXmlLimits(limits);
  }

  write(chunk: string | Buffer): void {
    if (this.dead) return;
    const data = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.data = data;
    this.counted = 0;
    try {
      this.run(data);
      // A chunk boundary is a checkpoint too: nothing accumulates past a limit for longer than one read.
      if (this.inStanza && !this.skip && !this.dead) this.checkBytes(data.length);
      if (!this.root && this.offset(data.length) > MAX_PROLOG_BYTES) this.fatal('malformed-xml', `no stream header within ${MAX_PROLOG_BYTES} bytes`);
    } catch (err) {
      this.dead = true;
      this.stack = [];
      this.emit('error', err instanceof ProtocolError ? err : new ProtocolError('malformed-xml', String((err as Error)?.message ?? err)));
      return;
    }
    this.offset(data.length);
    this.data = '';
  }

  end(chunk?: string | Buffer): void {
    if (chunk) this.write(chunk);
    this.dead = true;
  }

  // -------------------------------------------------------------------------------------------------

  /** UTF-8 offset in the stream of `data[i]`. */
  private offset(i: number): number {
    if (i > this.counted) {
      this.bytes += utf8Length(this.data, this.counted, i);
      this.counted = i;
    }
    return this.bytes;
  }

  private run(d: string): void {
    const n = d.length;
    let i = 0;
    while (i < n && !this.dead) {
      switch (this.state) {
        case S.Text: {
          let lt = d.indexOf('<', i);
          if (lt < 0) lt = n;
          if (lt > i) this.onText(d, i, lt);
          i = lt;
          if (i < n) {
            this.flushText(i);
            this.state = S.Lt;
            if (this.depth === 0 && this.root) this.beginStanza(i);
            i++;
          }
          break;
        }
        case S.Lt: {
          const c = d.charCodeAt(i);
          if (c === 0x2f /* / */) {
            if (this.depth === 0) this.inStanza = false;
            this.beginName();
            this.state = S.EndName;
            i++;
          } else if (c === 0x21 /* ! */) {
            if (this.depth === 0) this.restricted('DTDs, comments and CDATA outside stanzas are not allowed');
            this.bang = '';
            this.state = S.Bang;
            i++;
          } else if (c === 0x3f /* ? */) {
            if (this.root) this.restricted('processing instructions are not allowed (RFC 6120 §11.1)');
            this.piQuestion = false;
            this.state = S.Pi;
            i++;
          } else {
            this.beginName();
            // A fresh object per tag, handed to the element as is; `__proto__` never becomes a key (refused).
            this.attrs = {};
            this.attrCount = 0;
            this.state = S.StartName;
          }
          break;
        }
        case S.Bang: {
          this.bang += d[i];
          i++;
          if (!'[CDATA['.startsWith(this.bang)) this.restricted('comments and DTDs are not allowed (RFC 6120 §11.1)');
          if (this.bang.length === 7) {
            this.brackets = 0;
            this.cdata = '';
            this.state = S.Cdata;
          }
          break;
        }
        case S.Cdata: {
          const start = i;
          let closed = false;
          while (i < n) {
            const c = d.charCodeAt(i++);
            if (c === 0x3e /* > */ && this.brackets >= 2) {
              closed = true;
              break;
            }
            this.brackets = c === 0x5d /* ] */ ? this.brackets + 1 : 0;
          }
          this.appendText(d, start, i, true);
          if (closed) {
            this.endCdata();
            this.state = S.Text;
          }
          break;
        }
        case S.Pi: {
          const c = d.charCodeAt(i++);
          if (c === 0x3e && this.piQuestion) this.state = S.Text;
          this.piQuestion = c === 0x3f;
          break;
        }
        case S.StartName:
        case S.EndName:
        case S.AttrName: {
          const start = i;
          while (i < n && !isDelimiter(d.charCodeAt(i))) i++;
          this.addName(d, start, i);
          if (i < n) this.endName(i);
          break;
        }
        case S.Tag: {
          const c = d.charCodeAt(i);
          if (isSpace(c)) {
            i++;
            this.tagSpace = true;
          } else if (c === 0x3e) {
            i++;
            this.openElement(i, false);
            this.state = S.Text;
          } else if (c === 0x2f) {
            i++;
            this.state = S.SelfClose;
          } else if (c === 0x3d || c === 0x3c) {
            this.fatal('malformed-xml', `unexpected '${d[i]}' in a start tag`);
          } else {
            if (!this.tagSpace) this.fatal('malformed-xml', 'missing whitespace before an attribute');
            this.beginName();
            this.state = S.AttrName;
          }
          break;
        }
        case S.SelfClose: {
          if (d.charCodeAt(i) !== 0x3e) this.fatal('malformed-xml', "expected '>' after '/'");
          i++;
          this.openElement(i, true);
          this.closeElement(i, undefined);
          this.state = S.Text;
          break;
        }
        case S.AttrEq: {
          const c = d.charCodeAt(i);
          if (isSpace(c)) i++;
          else if (c === 0x3d) {
            i++;
            this.state = S.AttrQuote;
          } else this.fatal('malformed-xml', `expected '=' after attribute ${this.attrName}`);
          break;
        }
        case S.AttrQuote: {
          const c = d.charCodeAt(i);
          if (isSpace(c)) i++;
          else if (c === 0x22 || c === 0x27) {
            i++;
            this.quote = c;
            this.beginAttrValue();
            this.state = S.AttrValue;
          } else this.fatal('malformed-xml', `value of attribute ${this.attrName} is not quoted`);
          break;
        }
        case S.AttrValue: {
          let end = d.indexOf(this.quote === 0x22 ? '"' : "'", i);
          if (end < 0) end = n;
          this.addAttrValue(d, i, end);
          i = end;
          if (i < n) {
            i++;
            this.endAttrValue();
            this.tagSpace = false;
            this.state = S.Tag;
          }
          break;
        }
        case S.EndTag: {
          const c = d.charCodeAt(i);
          if (isSpace(c)) i++;
          else if (c === 0x3e) {
            i++;
            this.closeElement(i, this.name);
            this.state = S.Text;
          } else this.fatal('malformed-xml', `unexpected '${d[i]}' in end tag </${this.name}>`);
          break;
        }
      }
    }
  }

  private beginStanza(i: number): void {
    this.inStanza = true;
    this.stanzaStart = this.offset(i);
    this.elements = 0;
    this.skeleton.reset();
  }

  // Names -------------------------------------------------------------------------------------------

  private beginName(): void {
    this.name = '';
    this.nameOverflow = false;
  }

  private addName(d: string, from: number, to: number): void {
    if (this.nameOverflow || from === to) return;
    if (this.name.length + (to - from) > MAX_XML_NAME_CHARS) {
      this.nameOverflow = true;
      this.name = '';
      return;
    }
    this.name += d.slice(from, to);
  }

  private endName(i: number): void {
    const name = this.name;
    if (!this.nameOverflow && !this.validNames.has(name)) {
      if (!NAME_EXACT.test(name)) this.fatal('malformed-xml', `invalid name '${name.slice(0, 64)}'`);
      // Names repeat: remember the valid ones (bounded).
      if (this.validNames.size >= 512) this.validNames.clear();
      this.validNames.add(name);
    }
    if (this.state === S.StartName) {
      this.state = S.Tag;
      this.tagSpace = false;
      this.elName = name;
      this.elNameOverflow = this.nameOverflow;
      if (this.nameOverflow) this.limit(i, 'name-too-long', `element name longer than ${MAX_XML_NAME_CHARS} characters`);
    } else if (this.state === S.EndName) {
      this.state = S.EndTag;
    } else {
      this.attrName = name;
      this.attrCount++;
      if (this.nameOverflow) this.limit(i, 'name-too-long', `attribute name longer than ${MAX_XML_NAME_CHARS} characters`);
      else if (this.attrCount > this.limits.maxAttributes) {
        this.limit(i, 'too-many-attributes', `an element has more than ${this.limits.maxAttributes} attributes`);
      }
      this.state = S.AttrEq;
    }
  }

  // Attribute values ----------------------------------------------------------------------------------

  private beginAttrValue(): void {
    this.attrValue = '';
    this.attrBytes = 0;
    // While skipping, only the few attributes of the captured chain are kept.
    this.attrKeep = !this.nameOverflow && (!this.skip || (this.depth + 1 <= SKELETON_DEPTH && SKELETON_ATTRS.has(this.attrName)));
  }

  private addAttrValue(d: string, from: number, to: number): void {
    if (from === to) return;
    this.attrBytes += utf8Length(d, from, to);
    if (this.attrBytes > this.limits.maxAttributeBytes && this.attrKeep) {
      const sofar = this.attrValue;
      this.limit(to, 'attribute-too-long', `value of attribute ${this.attrName.slice(0, 64)} exceeds ${this.limits.maxAttributeBytes} bytes`);
      // The addressing of the answer is kept whatever its length (the stanza limit bounds it): without the
      // ids the server cannot match the error to its request, and ejabberd leaves the client waiting.
      if (!this.isAddressingAttr() || this.attrBytes > this.limits.maxBytes) {
        this.attrKeep = false;
        this.attrValue = '';
        return;
      }
      this.attrValue = sofar;
    }
    if (this.attrKeep) this.attrValue += d.slice(from, to);
  }

  /** `id`, `from`, `to` or `type` of the stanza or of the forwarded IQ inside a delegation (depth 4). */
  private isAddressingAttr(): boolean {
    const depth = this.depth + 1;
    return (depth === 1 || depth === 4) && ADDRESSING_ATTRS.has(this.attrName);
  }

  private endAttrValue(): void {
    if (!this.attrKeep) return;
    const raw = this.attrValue;
    this.attrValue = '';
    if (raw.includes('<')) this.fatal('malformed-xml', `'<' in the value of attribute ${this.attrName}`);
    const value = this.decode(NEEDS_ATTR_NORMALIZING.test(raw) ? raw.replace(/\r\n|[\r\n\t]/g, ' ') : raw);
    if (Object.prototype.hasOwnProperty.call(this.attrs, this.attrName)) this.fatal('malformed-xml', `duplicate attribute ${this.attrName}`);
    if (this.attrName === '__proto__') {
      this.limit(this.counted, 'unsupported-xml', 'attribute name __proto__ is not supported');
      return;
    }
    if (this.attrName === 'xmlns' && value === '') {
      // Legal XML, but ltx would resolve such an element to its parent's namespace (parseXml refuses it too).
      this.limit(this.counted, 'unsupported-xml', 'empty default namespace declaration');
      return;
    }
    if (this.attrName.startsWith('xmlns:')) {
      const prefix = this.attrName.slice(6);
      if (value === '' || prefix === 'xmlns' || (prefix === 'xml') !== (value === XML_NS)) this.fatal('malformed-xml', `illegal declaration of namespace prefix ${prefix}`);
    }
    this.attrs[this.attrName] = value;
  }

  // Elements ------------------------------------------------------------------------------------------

  private openElement(i: number, selfClosing: boolean): void {
    this.attrName = '';
    if (!this.root) {
      if (this.elNameOverflow || selfClosing) this.fatal('malformed-xml', 'invalid stream header');
      this.root = new ElementClass(this.elName);
      this.root.attrs = this.attrs;
      this.emit('start', this.root);
      return;
    }
    const depth = ++this.depth;
    if (!this.elNameOverflow) this.skeleton.onOpen(depth, this.elName, this.attrs);
    if (this.skip) return;
    if (depth > this.limits.maxDepth) return this.limit(i, 'too-deep', `nesting exceeds ${this.limits.maxDepth} levels`);
    if (++this.elements > this.limits.maxElements) return this.limit(i, 'too-many-elements', `more than ${this.limits.maxElements} elements`);
    this.checkBytes(i);
    if (this.skip) return;
    this.checkPrefixes();
    const el = new ElementClass(this.elName);
    el.attrs = this.attrs;
    const top = this.stack[this.stack.length - 1];
    if (top) top.el.cnode(el);
    else el.parent = this.root;
    this.stack.push({ el, textBytes: 0 });
  }

  /** Namespaces in XML 1.0: every prefix used by the element being opened is bound (iteratively: no recursion). */
  private checkPrefixes(): void {
    this.checkPrefix(this.elName, true);
    for (const name in this.attrs) this.checkPrefix(name, false);
  }

  private checkPrefix(qname: string, isElement: boolean): void {
    const colon = qname.indexOf(':');
    if (colon < 0) return;
    const prefix = qname.slice(0, colon);
    if (prefix === 'xml' || prefix === 'xmlns') {
      if (prefix === 'xmlns' && isElement) this.fatal('malformed-xml', `element name ${qname} uses the reserved prefix xmlns`);
      return;
    }
    if (colon === 0 || colon === qname.length - 1 || qname.indexOf(':', colon + 1) >= 0) this.fatal('malformed-xml', `${qname.slice(0, 64)} is not a valid qualified name`);
    const decl = `xmlns:${prefix}`;
    if (this.attrs[decl] !== undefined) return;
    for (let k = this.stack.length - 1; k >= 0; k--) if (this.stack[k]!.el.attrs[decl] !== undefined) return;
    if (this.root?.attrs[decl] !== undefined) return;
    this.fatal('malformed-xml', `undeclared namespace prefix ${prefix.slice(0, 64)}`);
  }

  private closeElement(i: number, name: string | undefined): void {
    if (this.depth === 0) {
      if (!this.root) this.fatal('malformed-xml', 'end tag before the stream header');
      if (name !== undefined && name !== this.root.name) this.fatal('malformed-xml', `end tag </${name}> does not match <${this.root.name}>`);
      this.dead = true;
      this.emit('end', this.root);
      return;
    }
    const depth = this.depth--;
    this.skeleton.onClose(depth);
    if (!this.skip) {
      const frame = this.stack.pop()!;
      if (name !== undefined && name !== frame.el.name) this.fatal('malformed-xml', `end tag </${name}> does not match <${frame.el.name}>`);
      if (this.depth === 0) {
        this.checkBytes(i);
        if (this.skip) return this.emitRejected();
        this.inStanza = false;
        this.emit('element', frame.el);
      }
      return;
    }
    if (this.depth === 0) this.emitRejected();
  }

  private emitRejected(): void {
    const skip = this.skip!;
    this.skip = null;
    this.inStanza = false;
    this.stack = [];
    const { name, attrs, stanza } = this.skeleton.build();
    stanza.parent = this.root;
    this.skeleton.reset();
    this.emit('rejected', { code: skip.code, reason: skip.reason, name, attrs, stanza });
  }

  // Text ---------------------------------------------------------------------------------------------

  private onText(d: string, from: number, to: number): void {
    if (this.depth === 0) {
      // Between stanzas only whitespace (keep-alives) is legal; it is never kept.
      const seg = d.slice(from, to);
      if (!WHITESPACE.test(seg)) this.fatal('malformed-xml', 'text outside stanzas');
      return;
    }
    this.appendText(d, from, to, false);
  }

  private appendText(d: string, from: number, to: number, cdata: boolean): void {
    if (this.skip || from === to) return;
    const frame = this.stack[this.stack.length - 1];
    if (!frame) return;
    frame.textBytes += utf8Length(d, from, to);
    if (frame.textBytes > this.limits.maxTextBytes) {
      return this.limit(to, 'text-too-long', `text of <${frame.el.name}> exceeds ${this.limits.maxTextBytes} bytes`);
    }
    if (cdata) this.cdata += d.slice(from, to);
    else this.text += d.slice(from, to);
  }

  /** The CDATA content read (its closing ']]>' included) becomes text as is. */
  private endCdata(): void {
    const content = this.cdata.slice(0, -3);
    this.cdata = '';
    const frame = this.stack[this.stack.length - 1];
    if (this.skip || !frame) return;
    this.pushText(frame, content.replace(/\r\n?/g, '\n'), true);
  }

  /** Decodes the pending character data (a run ends at '<') into the current element. */
  private flushText(i: number): void {
    if (!this.text) return;
    const raw = this.text;
    this.text = '';
    const frame = this.stack[this.stack.length - 1];
    if (this.skip || !frame) return;
    if (raw.includes(']]>')) this.fatal('malformed-xml', "']]>' in character data");
    this.pushText(frame, this.decode(raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw), false);
    this.checkBytes(i);
  }

  private pushText(frame: Frame, text: string, raw: boolean): void {
    if (raw) {
      const bad = ILLEGAL_CHAR.exec(text);
      if (bad) this.fatal('malformed-xml', `illegal XML character U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase()}`);
    }
    if (text === '') return;
    const children = frame.el.children;
    const last = children.length - 1;
    if (typeof children[last] === 'string') children[last] = (children[last] as string) + text;
    else children.push(text);
  }

  private decode(raw: string): string {
    const bad = ILLEGAL_CHAR.exec(raw);
    if (bad) this.fatal('malformed-xml', `illegal XML character U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase()}`);
    return decodeReferences(raw, this.failDecode);
  }

  // Limits -------------------------------------------------------------------------------------------

  private checkBytes(i: number): void {
    const size = this.offset(i) - this.stanzaStart;
    if (size > this.limits.maxBytes) this.limit(i, 'too-large', `stanza exceeds ${this.limits.maxBytes} bytes`);
  }

  /** Crossing a limit: drop the stanza's tree, skip the rest of it (depth counting only). */
  private limit(i: number, code: RejectedStanza['code'], reason: string): void {
    if (!this.root) this.fatal('malformed-xml', `stream header: ${reason}`);
    if (this.skip) return;
    this.skip = { code, reason: `${reason} (stanza offset ${this.offset(i) - this.stanzaStart})` };
    this.stack = [];
    this.text = '';
    this.cdata = '';
    this.attrValue = '';
  }

  private fatal(code: 'malformed-xml', message: string): never {
    throw new ProtocolError(code, `malformed XML in the stream: ${message}`);
  }

  private restricted(message: string): never {
    throw new ProtocolError('restricted-xml', `${message} (RFC 6120 §11.1)`);
  }
}
