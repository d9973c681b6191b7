import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Failure } from './result';
import { cloneElement, isElementNode } from './xml-util';

export const STANZA_ERROR_NS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** RFC 6120 §8.3.3, in the RFC's order. */
export const STANZA_ERROR_CONDITIONS = [
  'bad-request',
  'conflict',
  'feature-not-implemented',
  'forbidden',
  'gone',
  'internal-server-error',
  'item-not-found',
  'jid-malformed',
  'not-acceptable',
  'not-allowed',
  'not-authorized',
  'policy-violation',
  'recipient-unavailable',
  'redirect',
  'registration-required',
  'remote-server-not-found',
  'remote-server-timeout',
  'resource-constraint',
  'service-unavailable',
  'subscription-required',
  'undefined-condition',
  'unexpected-request',
] as const;

export type StanzaErrorCondition = (typeof STANZA_ERROR_CONDITIONS)[number];
export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

const ERROR_TYPES: ReadonlySet<string> = new Set(['auth', 'cancel', 'continue', 'modify', 'wait']);
const CONDITIONS: ReadonlySet<string> = new Set(STANZA_ERROR_CONDITIONS);

export function isStanzaErrorCondition(s: unknown): s is StanzaErrorCondition {
  return typeof s === 'string' && CONDITIONS.has(s);
}

export function isStanzaErrorType(s: unknown): s is StanzaErrorType {
  return typeof s === 'string' && ERROR_TYPES.has(s);
}

/** The error type each RFC 6120 §8.3.3 subsection recommends (its "SHOULD be" or its example). */
export const DEFAULT_ERROR_TYPE: Readonly<Record<StanzaErrorCondition, StanzaErrorType>> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
};

export interface StanzaErrorOptions {
  type?: StanzaErrorType;
  /** Human-readable text that goes on the wire: never put internal details here. */
  text?: string;
  /** Application-specific condition element (RFC 6120 §8.3.4), e.g. XEP-0060 `<invalid-jid/>`. */
  appCondition?: Element;
  cause?: unknown;
}

/** A stanza error (RFC 6120 §8.3) to send back; throwable so handlers can bail out with one. */
export class StanzaError extends Error {
  override readonly name = 'StanzaError';
  readonly condition: StanzaErrorCondition;
  readonly type: StanzaErrorType;
  readonly text: string | undefined;
  readonly appCondition: Element | undefined;

  constructor(condition: StanzaErrorCondition, opts: StanzaErrorOptions = {}) {
    super(opts.text ?? condition, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.condition = condition;
    this.type = opts.type ?? DEFAULT_ERROR_TYPE[condition];
    this.text = opts.text;
    this.appCondition = opts.appCondition;
  }
}

/** The stanza error to answer a rejected stanza with; the reason becomes the error text. */
export function stanzaErrorFromFailure(failure: Failure): StanzaError {
  return new StanzaError(failure.condition, { text: failure.reason });
}

/** `<error type=…><condition/><text/>{app}</error>` as RFC 6120 §8.3.2 lays it out. */
export function buildErrorElement(err: StanzaError): Element {
  return xml(
    'error',
    { type: err.type },
    xml(err.condition, { xmlns: STANZA_ERROR_NS }),
    err.text === undefined ? null : xml('text', { xmlns: STANZA_ERROR_NS, 'xml:lang': 'en' }, err.text),
    err.appCondition === undefined ? null : cloneElement(err.appCondition),
  );
}

export interface ParsedStanzaError {
  type: StanzaErrorType;
  condition: StanzaErrorCondition;
  text?: string;
  appCondition?: Element;
}

/**
 * Reads the `<error/>` of an error stanza (or the `<error/>` element itself), RFC 6120 §8.3.2.
 * A missing or unknown condition reads as `undefined-condition`, a missing or unknown type as the
 * condition's default. Null when there is no `<error/>` child.
 */
export function parseErrorElement(stanza: Element): ParsedStanzaError | null {
  const error = stanza.name === 'error' ? stanza : stanza.children.find((c): c is Element => isElementNode(c) && c.name === 'error');
  if (!error) return null;
  let condition: StanzaErrorCondition | undefined;
  let text: string | undefined;
  let appCondition: Element | undefined;
  for (const child of error.children) {
    if (!isElementNode(child)) continue;
    if (child.attrs.xmlns === STANZA_ERROR_NS) {
      if (child.name === 'text') text ??= child.getText();
      else if (condition === undefined && isStanzaErrorCondition(child.name)) condition = child.name;
    } else {
      appCondition ??= child;
    }
  }
  condition ??= 'undefined-condition';
  const type = isStanzaErrorType(error.attrs.type) ? error.attrs.type : DEFAULT_ERROR_TYPE[condition];
  const parsed: ParsedStanzaError = { type, condition };
  if (text !== undefined) parsed.text = text;
  if (appCondition !== undefined) parsed.appCondition = appCondition;
  return parsed;
}
