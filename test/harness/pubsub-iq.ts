// Builders for the XEP-0060 / XEP-0163 IQs real clients send, shared by the PEP end-to-end suites.
import xml, { type Element } from '@xmpp/xml';
import type { StanzaErrorResponse } from './xmpp-client';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

let n = 0;
const id = (p: string) => `${p}-${++n}-${Math.random().toString(36).slice(2, 7)}`;
const at = (to?: string) => (to ? { to } : {});

function form(formType: string, type: 'submit' | 'cancel', fields: Record<string, string | string[]>): Element {
  return xml('x', { xmlns: 'jabber:x:data', type },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: k.includes('#') || k === 'FORM_TYPE' ? k : `pubsub#${k}` }, ...(Array.isArray(v) ? v : [v]).map((x) => xml('value', {}, x)))));
}

export const publishOptions = (options: Record<string, string | string[]>) =>
  xml('publish-options', {}, form('http://jabber.org/protocol/pubsub#publish-options', 'submit', options));

export function publishIq(node: string, itemId: string | undefined, payload: Element, opts: { to?: string; options?: Record<string, string | string[]> } = {}): Element {
  return xml('iq', { type: 'set', id: id('pub'), ...at(opts.to) },
    xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node }, xml('item', itemId ? { id: itemId } : {}, payload)), ...(opts.options ? [publishOptions(opts.options)] : [])));
}

export function itemsIq(node: string, opts: { to?: string; max?: number; ids?: string[] } = {}): Element {
  return xml('iq', { type: 'get', id: id('items'), ...at(opts.to) },
    xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node, ...(opts.max ? { max_items: String(opts.max) } : {}) }, ...(opts.ids ?? []).map((i) => xml('item', { id: i })))));
}

export function retractIq(node: string, itemId: string, opts: { to?: string; notify?: boolean } = {}): Element {
  return xml('iq', { type: 'set', id: id('retract'), ...at(opts.to) },
    xml('pubsub', { xmlns: NS_PUBSUB }, xml('retract', { node, ...(opts.notify !== undefined ? { notify: String(opts.notify) } : {}) }, xml('item', { id: itemId }))));
}

export function subscribeIq(to: string, node: string, jid: string): Element {
  return xml('iq', { type: 'set', id: id('sub'), to }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscribe', { node, jid })));
}

export function unsubscribeIq(to: string, node: string, jid: string, subid?: string): Element {
  return xml('iq', { type: 'set', id: id('unsub'), to }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('unsubscribe', { node, jid, ...(subid ? { subid } : {}) })));
}

export function ownerIq(type: 'get' | 'set', child: Element, to?: string): Element {
  return xml('iq', { type, id: id('owner'), ...at(to) }, xml('pubsub', { xmlns: NS_PUBSUB_OWNER }, child));
}

export const configureSetIq = (node: string, options: Record<string, string | string[]>) =>
  ownerIq('set', xml('configure', { node }, form('http://jabber.org/protocol/pubsub#node_config', 'submit', options)));

export const affiliationsSetIq = (node: string, affs: Record<string, string>) =>
  ownerIq('set', xml('affiliations', { node }, ...Object.entries(affs).map(([jid, affiliation]) => xml('affiliation', { jid, affiliation }))));

export function discoIq(ns: typeof NS_DISCO_INFO | typeof NS_DISCO_ITEMS, to: string, node?: string): Element {
  return xml('iq', { type: 'get', id: id('disco'), to }, xml('query', { xmlns: ns, ...(node ? { node } : {}) }));
}

/** Item ids of an items result, in document order. */
export const resultItemIds = (res: Element): string[] => res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').map((i) => i.attrs.id as string) ?? [];

/** The XEP-0060 application condition (pubsub#errors child) of an error answer, if any. */
export function pubsubCondition(err: StanzaErrorResponse): string | undefined {
  return err.stanza.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_PUBSUB_ERRORS)?.name;
}

/** `data form field var → values` of the first jabber:x:data form under `el`. */
export function formValues(el: Element | undefined): Record<string, string[]> {
  const x = el?.getChild('x', 'jabber:x:data');
  const out: Record<string, string[]> = {};
  for (const f of x?.getChildren('field') ?? []) out[f.attrs.var as string] = f.getChildren('value').map((v) => v.getText());
  return out;
}
