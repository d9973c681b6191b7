import xml, { type Element } from '@xmpp/xml';
import { LuaTable, type LuaValue } from './lua-data';

/**
 * Prosody stores a stanza as `st.preserialize(stanza)` (util/stanza.lua): a table with `name`, `attr`
 * (attribute name -> string) and the children in the sequence part (strings are text, tables elements).
 * The archive adds `attr.stamp` to the stored root (mod_storage_internal.lua, removed again when read),
 * and, in old data, `attr.stamp_legacy`. Attributes in a namespace other than the element's are keyed
 * `<namespace>\1<name>` (util/xmppstream.lua).
 */

const NS_XML = 'http://www.w3.org/XML/1998/namespace';
const MAX_STANZA_DEPTH = 64;
/** Archive bookkeeping on the stored root, not part of the payload. */
const ARCHIVE_ATTRS = new Set(['stamp', 'stamp_legacy']);

export class StanzaShapeError extends Error {
  override name = 'StanzaShapeError';
}

function toElement(t: LuaTable, depth: number, root: boolean, inheritedNs: string | undefined): Element {
  if (depth > MAX_STANZA_DEPTH) throw new StanzaShapeError(`elements nested deeper than ${MAX_STANZA_DEPTH}`);
  const name = t.get('name');
  if (typeof name !== 'string' || !/^[^\s<>&"'=/]+$/.test(name)) throw new StanzaShapeError('element without a valid name');
  const attrTable = t.get('attr') ?? new LuaTable();
  if (!(attrTable instanceof LuaTable)) throw new StanzaShapeError(`<${name}>: attr is not a table`);
  const attrs: Record<string, string> = {};
  let prefixes = 0;
  for (const [k, v] of attrTable.entries) {
    if (typeof k !== 'string' || typeof v !== 'string') throw new StanzaShapeError(`<${name}>: attributes must be strings`);
    if (root && ARCHIVE_ATTRS.has(k)) continue;
    const sep = k.indexOf('\u0001');
    if (sep === -1) attrs[k] = v;
    else {
      const ns = k.slice(0, sep);
      const local = k.slice(sep + 1);
      if (ns === NS_XML) attrs[`xml:${local}`] = v;
      else {
        const prefix = `ns${prefixes++}`;
        attrs[`xmlns:${prefix}`] = ns;
        attrs[`${prefix}:${local}`] = v;
      }
    }
  }
  // a payload root without its own namespace is in the pubsub namespace it was published in
  if (root && attrs.xmlns === undefined && inheritedNs !== undefined) attrs.xmlns = inheritedNs;
  const el = xml(name, attrs);
  for (const child of t.array()) {
    if (typeof child === 'string') el.children.push(child);
    else if (child instanceof LuaTable) el.children.push(toElement(child, depth + 1, false, undefined));
    else throw new StanzaShapeError(`<${name}>: child is neither text nor element`);
  }
  return el;
}

/** The payload element of an archived PEP item as XML text (what a native publish stores). */
export function preserializedToXml(value: LuaValue, inheritedNs = 'http://jabber.org/protocol/pubsub'): string {
  if (!(value instanceof LuaTable)) throw new StanzaShapeError('item value is not a table');
  return toElement(value, 0, true, inheritedNs).toString();
}
