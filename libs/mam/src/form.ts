import xml, { type Element } from '@xmpp/xml';
import { jidToString, parseJid } from '@dbroker/protocol';
import { parseDateTime } from './datetime';
import { refuse } from './errors';
import { NS_DATA_FORMS, NS_MAM_2, NS_XDATA_VALIDATE, type MamNamespace } from './namespaces';

/**
 * The XEP-0004 query form of XEP-0313 §4.1: filters `with`, `start`, `end` (all versions) and, with
 * `urn:xmpp:mam:2#extended`, `before-id`, `after-id`, `ids` (§4.1.4). Form discovery (§4.1.5) answers
 * with exactly the fields accepted here.
 */

export interface MamFilter {
  /** §4.1.2: entries at or after this instant. */
  start?: Date | undefined;
  /** §4.1.2: entries at or before this instant. */
  end?: Date | undefined;
  /** §4.1.1: the publisher (a bare JID matches its resources too), normalised. */
  with?: string | undefined;
  /** §4.1.4: archive UIDs bounding the result set (exclusive), not paging cursors. */
  afterId?: string | undefined;
  beforeId?: string | undefined;
  /** §4.1.4: only these entries. */
  ids?: string[] | undefined;
}

/** Bound of the `ids` field (each one is a look-up). */
export const MAX_QUERY_IDS = 1000;

type FieldKind = 'jid' | 'start' | 'end' | 'id' | 'ids';
const COMMON_FIELDS: ReadonlyArray<[string, FieldKind]> = [
  ['with', 'jid'],
  ['start', 'start'],
  ['end', 'end'],
];
const EXTENDED_FIELDS: ReadonlyArray<[string, FieldKind]> = [
  ['before-id', 'id'],
  ['after-id', 'id'],
  ['ids', 'ids'],
];

function fieldsOf(ns: MamNamespace): ReadonlyMap<string, FieldKind> {
  return new Map(ns === NS_MAM_2 ? [...COMMON_FIELDS, ...EXTENDED_FIELDS] : COMMON_FIELDS);
}

/**
 * Reads the `<x xmlns='jabber:x:data' type='submit'/>` of a query (absent: no filter). `FORM_TYPE` must be
 * the query's namespace (`bad-request` otherwise, as Prosody does); an unknown field is
 * `feature-not-implemented` (§4.1.5 MUST); a malformed value is `bad-request`. An empty single value
 * counts as absent (clients send empty `with` fields).
 */
export function parseQueryForm(x: Element | undefined, ns: MamNamespace): MamFilter {
  if (!x) return {};
  if (x.attrs.type !== undefined && x.attrs.type !== 'submit') throw refuse('bad-request', 'the query form must be of type submit');
  const known = fieldsOf(ns);
  const filter: MamFilter = {};
  let formType: string | undefined;
  const seen = new Set<string>();
  for (const field of x.getChildren('field', NS_DATA_FORMS)) {
    const name = field.attrs.var;
    if (!name) throw refuse('bad-request', 'form field without var');
    if (seen.has(name)) throw refuse('bad-request', `form field ${name} given twice`);
    seen.add(name);
    const values = field.getChildren('value', NS_DATA_FORMS).map((v) => v.getText().trim());
    if (name === 'FORM_TYPE') {
      if (values.length !== 1) throw refuse('bad-request', 'FORM_TYPE needs exactly one value');
      formType = values[0];
      continue;
    }
    const kind = known.get(name);
    if (!kind) throw refuse('feature-not-implemented', `unsupported query field ${name}`);
    if (kind === 'ids') {
      const ids = [...new Set(values.filter((v) => v !== ''))];
      if (ids.length > MAX_QUERY_IDS) throw refuse('bad-request', `at most ${MAX_QUERY_IDS} ids per query`);
      if (ids.length > 0) filter.ids = ids;
      continue;
    }
    if (values.length > 1) throw refuse('bad-request', `form field ${name} takes one value`);
    const value = values[0] ?? '';
    if (value === '') continue;
    switch (kind) {
      case 'jid': {
        const jid = parseJid(value);
        if (!jid) throw refuse('bad-request', `invalid JID in ${name}`);
        filter.with = jidToString(jid);
        break;
      }
      case 'start':
      case 'end': {
        const at = parseDateTime(value, kind === 'start' ? 'ceil' : 'floor');
        if (!at) throw refuse('bad-request', `${name} must be a XEP-0082 DateTime (e.g. 2010-07-10T23:08:25Z)`);
        filter[kind] = at;
        break;
      }
      case 'id':
        if (name === 'after-id') filter.afterId = value;
        else filter.beforeId = value;
        break;
    }
  }
  if (formType !== ns) throw refuse('bad-request', `FORM_TYPE must be ${ns}`);
  return filter;
}

/** §4.1.5: the form a `get` on `<query/>` answers with: every field `parseQueryForm` accepts. */
export function buildQueryForm(ns: MamNamespace): Element {
  const field = (type: string, name: string, ...children: Element[]) => xml('field', { type, var: name }, ...children);
  const fields = [
    field('hidden', 'FORM_TYPE', xml('value', {}, ns)),
    field('jid-single', 'with'),
    field('text-single', 'start'),
    field('text-single', 'end'),
  ];
  if (ns === NS_MAM_2) {
    fields.push(
      field('text-single', 'before-id'),
      field('text-single', 'after-id'),
      // §4.1.5: an open list (the server must not enumerate the ids)
      field('list-multi', 'ids', xml('validate', { xmlns: NS_XDATA_VALIDATE, datatype: 'xs:string' }, xml('open'))),
    );
  }
  return xml('x', { xmlns: NS_DATA_FORMS, type: 'form' }, ...fields);
}
