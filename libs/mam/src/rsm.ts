import xml, { type Element } from '@xmpp/xml';
import { refuse } from './errors';
import { NS_RSM } from './namespaces';

/** XEP-0059 Result Set Management: what a request asks for (§2.1-§2.5) and the `<set/>` of an answer. */

export interface RsmRequest {
  /** §2.1: page size wanted (0 = only the count, §2.7). */
  max?: number | undefined;
  /** §2.2: the page after this UID. */
  after?: string | undefined;
  /** §2.3/§2.5: the page before this UID; `''` (an empty `<before/>`) = the last page. */
  before?: string | undefined;
}

const MAX_DIGITS = /^[0-9]{1,9}$/;

/**
 * Reads a request's `<set xmlns='http://jabber.org/protocol/rsm'/>` (absent: no constraints). `<index/>`
 * (§2.6, a page out of order) is refused with `feature-not-implemented`, as §2.6 requires of a responder
 * that does not support it: it would be an OFFSET scan, and keyset cursors cover every paging use.
 */
export function parseRsmSet(set: Element | undefined): RsmRequest {
  if (!set) return {};
  const req: RsmRequest = {};
  const seen = new Set<string>();
  for (const child of set.getChildElements()) {
    if (child.getNS() !== NS_RSM) continue;
    if (seen.has(child.name)) throw refuse('bad-request', `more than one <${child.name}/> in the RSM set`);
    seen.add(child.name);
    const text = child.getText().trim();
    switch (child.name) {
      case 'max':
        if (!MAX_DIGITS.test(text)) throw refuse('bad-request', 'RSM <max/> must be a non-negative integer');
        req.max = Number(text);
        break;
      case 'after':
        if (text === '') throw refuse('bad-request', 'RSM <after/> needs a UID');
        req.after = text;
        break;
      case 'before':
        req.before = text;
        break;
      case 'index':
        throw refuse('feature-not-implemented', 'RSM <index/> is not supported: page with <after/> and <before/>');
      default:
        // <first/>, <last/>, <count/> belong to answers; a request carrying them is not refused for it
        break;
    }
  }
  return req;
}

export interface RsmAnswer {
  /** UID of the first item of the page, with its position in the whole result set when known. */
  first?: { id: string; index?: number | undefined } | undefined;
  last?: string | undefined;
  /** Size of the whole result set, when known. */
  count?: number | undefined;
}

/** `<set xmlns='http://jabber.org/protocol/rsm'>` of an answer (§2.1 example 2; an empty page has no first/last, §2.7). */
export function buildRsmSet(answer: RsmAnswer): Element {
  const set = xml('set', { xmlns: NS_RSM });
  if (answer.first) set.cnode(xml('first', answer.first.index === undefined ? {} : { index: String(answer.first.index) }, answer.first.id));
  if (answer.last !== undefined) set.cnode(xml('last', {}, answer.last));
  if (answer.count !== undefined) set.cnode(xml('count', {}, String(answer.count)));
  return set;
}
