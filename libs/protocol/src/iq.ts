import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { buildErrorElement } from './stanza-error';
import type { StanzaError } from './stanza-error';
import { cloneElement, isElementNode } from './xml-util';

export type IqType = 'get' | 'set' | 'result' | 'error';

// An IQ read off the component stream inherits jabber:component:accept from the stream root.
const STANZA_NAMESPACES: ReadonlySet<string | undefined> = new Set([
  undefined,
  'jabber:client',
  'jabber:server',
  'jabber:component:accept',
]);

export function isIq(el: Element): boolean {
  return isElementNode(el) && el.name === 'iq' && STANZA_NAMESPACES.has(el.attrs.xmlns);
}

/** The IQ type (RFC 6120 §8.2.3), or undefined when missing or not one of the four. */
export function iqType(el: Element): IqType | undefined {
  const t = el.attrs.type;
  return t === 'get' || t === 'set' || t === 'result' || t === 'error' ? t : undefined;
}

/** True for an IQ that expects an answer (type get or set, with an id). */
export function isIqRequest(el: Element): boolean {
  const t = iqType(el);
  return isIq(el) && (t === 'get' || t === 'set') && !!el.attrs.id;
}

export function firstChildElement(el: Element): Element | undefined {
  return el.children.find(isElementNode);
}

/** Attributes of the answer to `iq` (RFC 6120 §8.2.3): its type, the same id, from and to swapped. */
export function iqReplyAttrs(iq: Element, type: 'result' | 'error'): Record<string, string> {
  const attrs: Record<string, string> = { type, id: iq.attrs.id ?? '' };
  if (iq.attrs.to !== undefined) attrs.from = iq.attrs.to;
  if (iq.attrs.from !== undefined) attrs.to = iq.attrs.from;
  return attrs;
}

/** `<iq type='result'>` answering `iq` (RFC 6120 §8.2.3): same id, from and to swapped, at most one child. */
export function buildIqResult(iq: Element, child?: Element): Element {
  return xml('iq', iqReplyAttrs(iq, 'result'), child === undefined ? null : cloneElement(child));
}

/**
 * Plain `<iq type='error'>` answering `iq` (RFC 6120 §8.3.1), for IQs addressed to the component itself
 * (ping, unknown namespaces, broken non-delegation requests). The original payload is not echoed back.
 * Null when `iq` is a result or an error: those must never be answered (RFC 6120 §8.2.3).
 */
export function buildIqError(iq: Element, err: StanzaError): Element | null {
  const t = iqType(iq);
  if (t !== 'get' && t !== 'set') return null;
  return xml('iq', iqReplyAttrs(iq, 'error'), buildErrorElement(err));
}
