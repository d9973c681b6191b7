import xml, { type Element } from '@xmpp/xml';

/**
 * XEP-0059 Result Set Management on item retrieval (XEP-0060 §6.5.4): the `<set/>` a request may carry
 * next to `<items/>` and the one an answer carries when it is a page.
 */

export const NS_RSM = 'http://jabber.org/protocol/rsm';

export interface RsmPageRequest {
  /** §2.1: page size wanted (0: only the count, §2.7). */
  max?: number | undefined;
  /** §2.2: the page after this item id. */
  after?: string | undefined;
}

export type RsmParse = { ok: true; value: RsmPageRequest } | { ok: false; error: 'bad-request' | 'unsupported'; text: string };

const MAX_DIGITS = /^[0-9]{1,9}$/;

/**
 * Reads `<set xmlns='http://jabber.org/protocol/rsm'/>`. Items page forwards only: `<before/>` and
 * `<index/>` are refused as not implemented (§2.6 asks that of a responder without them).
 */
export function parseRsmPageRequest(set: Element): RsmParse {
  const value: RsmPageRequest = {};
  const seen = new Set<string>();
  for (const child of set.getChildElements()) {
    if (child.getNS() !== NS_RSM) continue;
    if (seen.has(child.name)) return { ok: false, error: 'bad-request', text: `more than one <${child.name}/> in the RSM set` };
    seen.add(child.name);
    const text = child.getText().trim();
    switch (child.name) {
      case 'max':
        if (!MAX_DIGITS.test(text)) return { ok: false, error: 'bad-request', text: 'RSM <max/> must be a non-negative integer' };
        value.max = Number(text);
        break;
      case 'after':
        if (text === '') return { ok: false, error: 'bad-request', text: 'RSM <after/> needs an item id' };
        value.after = text;
        break;
      case 'before':
      case 'index':
        return { ok: false, error: 'unsupported', text: `RSM <${child.name}/> is not supported on items: page forwards with <after/>` };
      default:
        // <first/>, <last/>, <count/> belong to answers
        break;
    }
  }
  return { ok: true, value };
}

/** The answer's `<set/>` (§2.1; an empty page has only the count, §2.7). */
export function buildRsmPageSet(ids: readonly string[], firstIndex: number, count: number): Element {
  const set = xml('set', { xmlns: NS_RSM });
  const first = ids[0];
  const last = ids[ids.length - 1];
  if (first !== undefined && last !== undefined) {
    set.cnode(xml('first', { index: String(firstIndex) }, first));
    set.cnode(xml('last', {}, last));
  }
  set.cnode(xml('count', {}, String(count)));
  return set;
}
