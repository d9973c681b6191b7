/** Stable codes for XML-level failures; they map onto RFC 6120 stream errors of the same spirit. */
export type ProtocolErrorCode =
  /** not well-formed XML (RFC 6120 §4.9.3.13 `not-well-formed`) */
  | 'malformed-xml'
  /** comments, processing instructions, DTDs (RFC 6120 §11.1, `restricted-xml`) */
  | 'restricted-xml'
  /** over the byte cap (RFC 6120 §4.9.3.14 `policy-violation`) */
  | 'too-large'
  /** nested deeper than the depth cap */
  | 'too-deep'
  /** more elements in the tree than the element cap */
  | 'too-many-elements'
  /** more attributes on one element than the attribute cap */
  | 'too-many-attributes'
  /** an attribute value over the attribute size cap */
  | 'attribute-too-long'
  /** character data of one element over the text size cap */
  | 'text-too-long'
  /** an element or attribute name over MAX_XML_NAME_CHARS */
  | 'name-too-long'
  /**
   * well-formed XML the ltx model cannot carry faithfully: an empty default namespace declaration
   * (`xmlns=''`), an attribute named `__proto__`
   */
  | 'unsupported-xml';

/** Thrown by the XML layer only; everything stanza-level is a `Result` failure instead. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** UTF-16 offset in the input where the problem was found, when known. */
  readonly offset: number | undefined;

  constructor(code: ProtocolErrorCode, message: string, opts: { offset?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.offset = opts.offset;
  }
}
