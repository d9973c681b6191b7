import xml, { type Element } from '@xmpp/xml';
import { inheritedPrefixDeclarations } from '@dbroker/protocol';

/**
 * The element as a self-contained XML string: its namespace and the prefixed namespace declarations it
 * inherits from its ancestors and uses are written on it, so it means the same once cut out of its stanza.
 */
export function serializeStandalone(el: Element): string {
  const attrs: Record<string, string> = {};
  const ns = el.getNS();
  if (el.attrs.xmlns === undefined && ns !== undefined) attrs.xmlns = ns;
  for (const [k, v] of Object.entries(inheritedPrefixDeclarations(el))) if (el.attrs[k] === undefined) attrs[k] = v;
  if (Object.keys(attrs).length === 0) return el.toString();
  // a shallow copy that shares the children (ltx 3 elements have no clone(), and toString only reads them)
  const copy = new xml.Element(el.name, { ...el.attrs, ...attrs });
  copy.children = el.children;
  return copy.toString();
}
