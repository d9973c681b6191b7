import xml, { type Element } from '@xmpp/xml';

/**
 * The element as a self-contained XML string: its namespace and any prefixed namespace declarations it
 * inherits from its ancestors are written on it, so it means the same once cut out of its stanza.
 */
export function serializeStandalone(el: Element): string {
  const attrs: Record<string, string> = {};
  const ns = el.getNS();
  if (el.attrs.xmlns === undefined && ns !== undefined) attrs.xmlns = ns;
  for (let p = el.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.attrs)) {
      if (k.startsWith('xmlns:') && el.attrs[k] === undefined && attrs[k] === undefined) attrs[k] = v;
    }
  }
  if (Object.keys(attrs).length === 0) return el.toString();
  // a shallow copy that shares the children (ltx 3 elements have no clone(), and toString only reads them)
  const copy = new xml.Element(el.name, { ...el.attrs, ...attrs });
  copy.children = el.children;
  return copy.toString();
}
