// XEP-0355 §7.2 "Nesting": the server asks the managing entity, through disco#info nodes, which
// features and identities to merge into its own answers (protocol-notes §1.6).
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DELEGATION_NS_1, DELEGATION_NS_2 } from './delegation';
import type { DelegationVersion } from './delegation';
import { childElements, hasSignificantText, isElementNode } from './xml-util';

export const DISCO_INFO_NS = 'http://jabber.org/protocol/disco#info';
export const DISCO_ITEMS_NS = 'http://jabber.org/protocol/disco#items';

export interface DiscoNestingNode {
  version: DelegationVersion;
  /** `::` nodes feed the server domain's disco#info, `:bare:` nodes every bare JID's. */
  scope: 'domain' | 'bare';
  namespace: string;
}

/** Parses `urn:xmpp:delegation:N::NS` and `urn:xmpp:delegation:N:bare:NS`; null for any other node. */
export function parseDiscoNestingNode(node: string): DiscoNestingNode | null {
  if (typeof node !== 'string') return null;
  for (const version of [DELEGATION_NS_1, DELEGATION_NS_2] as const) {
    if (!node.startsWith(version)) continue;
    const rest = node.slice(version.length);
    if (rest.startsWith('::') && rest.length > 2) return { version, scope: 'domain', namespace: rest.slice(2) };
    if (rest.startsWith(':bare:') && rest.length > 6) return { version, scope: 'bare', namespace: rest.slice(6) };
  }
  return null;
}

/** The disco#info node asking for `namespace`'s features in `scope`, in the given version. */
export function discoNestingNode(version: DelegationVersion, scope: 'domain' | 'bare', namespace: string): string {
  return `${version}${scope === 'domain' ? '::' : ':bare:'}${namespace}`;
}

/** An `<iq type='get'>` whose only child is a disco#info `<query/>` (XEP-0030 §3.1). */
export function isDiscoInfoQuery(iq: Element): boolean {
  if (!isElementNode(iq) || iq.name !== 'iq' || iq.attrs.type !== 'get' || !iq.attrs.id) return false;
  const children = childElements(iq);
  const query = children[0];
  return children.length === 1 && !hasSignificantText(iq) && query !== undefined && query.name === 'query' && query.attrs.xmlns === DISCO_INFO_NS;
}

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

export interface DiscoInfo {
  /** Defaults to the node of the incoming query: the answer must echo it (ejabberd checks). */
  node?: string;
  identities: DiscoIdentity[];
  features: string[];
}

/**
 * The disco#info result for `query` (the incoming IQ), XEP-0030 §3.1: same id, from/to swapped, one
 * `<query>` echoing the node, duplicate features dropped, no whitespace text.
 */
export function buildDiscoInfoResult(query: Element, info: DiscoInfo): Element {
  const incoming = childElements(query).find((c) => c.name === 'query');
  const node = info.node ?? incoming?.attrs.node;
  const attrs: Record<string, string> = { type: 'result', id: query.attrs.id ?? '' };
  if (query.attrs.to !== undefined) attrs.from = query.attrs.to;
  if (query.attrs.from !== undefined) attrs.to = query.attrs.from;
  const identities = info.identities.map((i) =>
    xml('identity', { category: i.category, type: i.type, ...(i.name === undefined ? {} : { name: i.name }) }),
  );
  const features = [...new Set(info.features)].map((f) => xml('feature', { var: f }));
  return xml('iq', attrs, xml('query', { xmlns: DISCO_INFO_NS, ...(node === undefined ? {} : { node }) }, identities, features));
}
