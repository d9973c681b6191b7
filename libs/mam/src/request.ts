import type { Element } from '@xmpp/xml';
import { MAX_NODE_NAME_BYTES } from '@dbroker/pubsub';
import { refuse } from './errors';
import { parseQueryForm, type MamFilter } from './form';
import { NS_DATA_FORMS, NS_MAM_2, NS_RSM, isMamNamespace, type MamNamespace } from './namespaces';
import { parseRsmSet, type RsmRequest } from './rsm';

/** What a delegated MAM IQ asks for, read and checked (XEP-0313 §4, §6; XEP-0442 §2). */
export type MamRequest =
  /** §4.1.5: `<iq type='get'><query/></iq>`, the supported form fields. */
  | { kind: 'form'; ns: MamNamespace; node: string | undefined }
  /** §4: `<iq type='set'><query node=.../></iq>`, a page of the node's archive. */
  | {
      kind: 'query';
      ns: MamNamespace;
      node: string;
      queryId: string | undefined;
      filter: MamFilter;
      rsm: RsmRequest;
      /** §4.3.3 `<flip-page/>`: send the page newest first (what is sent does not change). */
      flip: boolean;
    }
  /** §6 (`#extended`): first and last entry of the node's archive. */
  | { kind: 'metadata'; ns: MamNamespace; node: string };

/** Bound of a `queryid` (echoed on every result). */
export const MAX_QUERY_ID_LENGTH = 256;

function nodeOf(el: Element): string | undefined {
  const node = el.attrs.node;
  if (node === undefined) return undefined;
  if (node === '') throw refuse('bad-request', 'empty node');
  if (Buffer.byteLength(node, 'utf8') > MAX_NODE_NAME_BYTES) throw refuse('bad-request', 'node name too long');
  return node;
}

/** `node` is what makes an archive ours: a server's user archive (no `node`) is never delegated to us on purpose. */
function requireNode(el: Element): string {
  const node = nodeOf(el);
  if (node === undefined) throw refuse('not-an-archive', 'only pubsub node archives (a query with node) are served here');
  return node;
}

/**
 * Reads the inner IQ's payload. `iq` is a request (`get`/`set`) whose first child is in a MAM namespace
 * (the delegation route guarantees that); anything else is refused with a `MamRefusal`.
 */
export function parseMamRequest(iq: Element): MamRequest {
  const type = iq.attrs.type;
  if (type !== 'get' && type !== 'set') throw refuse('bad-request', 'not a get or set iq');
  const children = iq.getChildElements();
  const payload = children[0];
  if (!payload || children.length > 1) throw refuse('bad-request', 'the iq must hold exactly one payload element');
  const ns = payload.attrs.xmlns;
  if (!isMamNamespace(ns)) throw refuse('bad-request', 'not a MAM request');

  switch (payload.name) {
    case 'query':
      if (type === 'get') return { kind: 'form', ns, node: nodeOf(payload) };
      return parseQuery(payload, ns);
    case 'metadata':
      if (ns !== NS_MAM_2) throw refuse('bad-request', `no metadata in ${ns}`);
      if (type !== 'get') throw refuse('bad-request', 'metadata requires an iq of type get');
      return { kind: 'metadata', ns, node: requireNode(payload) };
    case 'prefs':
      throw refuse('feature-not-implemented', 'archiving preferences do not apply to node archives');
    default:
      throw refuse('bad-request', `unknown MAM request <${payload.name}/>`);
  }
}

function parseQuery(query: Element, ns: MamNamespace): MamRequest {
  const node = requireNode(query);
  const queryId = query.attrs.queryid;
  if (queryId !== undefined && queryId.length > MAX_QUERY_ID_LENGTH) throw refuse('bad-request', `queryid longer than ${MAX_QUERY_ID_LENGTH} characters`);
  let form: Element | undefined;
  let set: Element | undefined;
  let flip = false;
  for (const child of query.getChildElements()) {
    const childNs = child.getNS();
    if (child.name === 'x' && childNs === NS_DATA_FORMS) {
      if (form) throw refuse('bad-request', 'more than one query form');
      form = child;
    } else if (child.name === 'set' && childNs === NS_RSM) {
      if (set) throw refuse('bad-request', 'more than one RSM set');
      set = child;
    } else if (child.name === 'flip-page' && childNs === ns) {
      if (ns !== NS_MAM_2) throw refuse('feature-not-implemented', `no flipped pages in ${ns}`);
      flip = true;
    } else {
      throw refuse('bad-request', `unexpected <${child.name}/> in the query`);
    }
  }
  return { kind: 'query', ns, node, queryId, filter: parseQueryForm(form, ns), rsm: parseRsmSet(set), flip };
}
