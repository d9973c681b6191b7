import xml, { type Element } from '@xmpp/xml';

/** One complete XML element from text (ltx, as xmpp.js parses streams). */
export class XmlParseError extends Error {
  override name = 'XmlParseError';
}

/** Parses `text`, which must hold exactly one element (surrounding whitespace allowed). */
export function parseXml(text: string): Element {
  const parser = new xml.Parser();
  let root: Element | undefined;
  let ended = false;
  let error: Error | undefined;
  parser.on('start', (el: Element) => {
    root = el;
  });
  parser.on('element', (el: Element) => {
    if (ended || !root) error ??= new XmlParseError('content after the root element');
    else root.append(el);
  });
  parser.on('end', () => {
    ended = true;
  });
  parser.on('error', (err: Error) => {
    error ??= err;
  });
  try {
    parser.write(text.trim());
    parser.end();
  } catch (err) {
    error ??= err instanceof Error ? err : new Error(String(err));
  }
  if (error) throw new XmlParseError(error.message, { cause: error });
  if (!root || !ended) throw new XmlParseError('incomplete XML');
  return root;
}

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
  const copy = el.clone();
  Object.assign(copy.attrs, attrs);
  return copy.toString();
}
