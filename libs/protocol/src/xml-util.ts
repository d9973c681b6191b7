// Internal helpers over ltx elements. Not part of the public surface.
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';

// `import { Element } from '@xmpp/xml'` as a *value* fails under Node ESM (the CJS module fills its
// exports with Object.assign, which cjs-module-lexer cannot see), so the class is reached through the
// default export.
export const ElementClass = xml.Element;

const WHITESPACE_ONLY = /^[ \t\r\n]*$/;

export function isElementNode(node: unknown): node is Element {
  return (
    typeof node === 'object' &&
    node !== null &&
    typeof (node as { name?: unknown }).name === 'string' &&
    Array.isArray((node as { children?: unknown }).children)
  );
}

export function isWhitespaceText(node: unknown): node is string {
  return typeof node === 'string' && WHITESPACE_ONLY.test(node);
}

export function childElements(el: Element): Element[] {
  return el.children.filter(isElementNode);
}

/** True when `el` has a text child that is not whitespace-only. */
export function hasSignificantText(el: Element): boolean {
  return el.children.some((c) => typeof c === 'string' && !WHITESPACE_ONLY.test(c));
}

/** Deep copy. ltx 3 has no `Element#clone` method (types/xmpp.d.ts declares one that does not exist). */
export function cloneElement(el: Element): Element {
  const copy = new ElementClass(el.name, { ...el.attrs });
  for (const child of el.children) {
    if (typeof child === 'string') copy.children.push(child);
    else if (isElementNode(child)) copy.cnode(cloneElement(child));
  }
  return copy;
}

/** An element name without a namespace prefix (`iq`, not `c:iq`). */
export function isUnprefixed(el: Element): boolean {
  return !el.name.includes(':');
}

/**
 * The namespace an element declares for itself: its `xmlns`, or the binding of its prefix.
 * Unlike `getNS()`, an unprefixed element without `xmlns` gives undefined rather than its parent's.
 */
export function ownNamespace(el: Element): string | undefined {
  if (el.name.includes(':')) return el.getNS() || undefined;
  const ns = el.attrs.xmlns;
  return ns === undefined || ns === '' ? undefined : ns;
}

/** Namespace prefixes `el` and its descendants use in element and attribute names. */
export function usedPrefixes(el: Element, into: Set<string> = new Set()): Set<string> {
  const take = (name: string) => {
    const colon = name.indexOf(':');
    if (colon > 0 && !name.startsWith('xmlns:')) into.add(name.slice(0, colon));
  };
  take(el.name);
  for (const name of Object.keys(el.attrs)) take(name);
  for (const child of childElements(el)) usedPrefixes(child, into);
  return into;
}

/**
 * `xmlns:prefix` declarations made by the ancestors of `el` (nearest wins) for the prefixes the subtree
 * uses, for re-rooting a copy. Unused ones (the stream root's `xmlns:stream` above every stanza) are left
 * behind: they would travel into stored payloads and privileged messages, where they mean nothing.
 */
export function inheritedPrefixDeclarations(el: Element): Record<string, string> {
  const used = usedPrefixes(el);
  const decls: Record<string, string> = {};
  for (let p = el.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.attrs)) {
      if (k.startsWith('xmlns:') && !(k in decls) && used.has(k.slice(6))) decls[k] = v;
    }
  }
  return decls;
}

/** Short description of an element for error reasons: `<forwarded xmlns='urn:xmpp:forward:1'/>`. */
export function describe(el: Element): string {
  const ns = el.attrs.xmlns;
  return ns === undefined ? `<${el.name}/>` : `<${el.name} xmlns='${ns}'/>`;
}

/** Quote a value from the wire for a reason string, bounded so hostile input cannot bloat logs. */
export function quote(value: string, max = 80): string {
  const clipped = value.length > max ? `${value.slice(0, max)}…` : value;
  return `'${clipped.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}
