import xml, { type Element } from '@xmpp/xml';

/** Prefixes used by element or attribute names in the subtree. */
function usedPrefixes(el: Element, into: Set<string>): Set<string> {
  const take = (name: string) => {
    const i = name.indexOf(':');
    if (i > 0 && !name.startsWith('xmlns')) into.add(name.slice(0, i));
  };
  take(el.name);
  for (const k of Object.keys(el.attrs)) take(k);
  for (const c of el.getChildElements()) usedPrefixes(c, into);
  return into;
}

/**
 * The element as a self-contained XML string: its namespace and the prefixed namespace declarations it
 * inherits from its ancestors AND uses are written on it, so it means the same once cut out of its stanza.
 * Unused inherited declarations (the stream's `xmlns:stream` among them) are left behind: they mean
 * nothing inside an item, and the privileged outbound path refuses stream declarations in notifications.
 */
export function serializeStandalone(el: Element): string {
  const attrs: Record<string, string> = {};
  const ns = el.getNS();
  if (el.attrs.xmlns === undefined && ns !== undefined) attrs.xmlns = ns;
  const used = usedPrefixes(el, new Set());
  for (let p = el.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.attrs)) {
      if (k.startsWith('xmlns:') && used.has(k.slice(6)) && el.attrs[k] === undefined && attrs[k] === undefined) attrs[k] = v;
    }
  }
  if (Object.keys(attrs).length === 0) return el.toString();
  // a shallow copy that shares the children (ltx 3 elements have no clone(), and toString only reads them)
  const copy = new xml.Element(el.name, { ...el.attrs, ...attrs });
  copy.children = el.children;
  return copy.toString();
}
