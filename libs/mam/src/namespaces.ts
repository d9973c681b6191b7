/** Namespaces and service discovery data of MAM on pubsub nodes (XEP-0313, XEP-0442). */

export const NS_MAM_2 = 'urn:xmpp:mam:2';
/** XEP-0313 v0.5 (`urn:xmpp:mam:1`): same query, results and `<fin/>`; no extended fields, flipped pages or metadata. */
export const NS_MAM_1 = 'urn:xmpp:mam:1';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
export const NS_FORWARD = 'urn:xmpp:forward:0';
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_CLIENT = 'jabber:client';
export const NS_DATA_FORMS = 'jabber:x:data';
export const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';

export const MAM_NAMESPACES = [NS_MAM_2, NS_MAM_1] as const;
export type MamNamespace = (typeof MAM_NAMESPACES)[number];

export function isMamNamespace(ns: string | undefined): ns is MamNamespace {
  return ns === NS_MAM_2 || ns === NS_MAM_1;
}

/** XEP-0313 §"Determining support": `#extended` = before-id/after-id/ids, flipped pages, metadata. */
export const MAM_2_FEATURES: readonly string[] = Object.freeze([NS_MAM_2, `${NS_MAM_2}#extended`]);
export const MAM_1_FEATURES: readonly string[] = Object.freeze([NS_MAM_1]);

/** The disco features a namespace's worker route announces (the ingress merges them for disco nesting). */
export function mamFeatures(ns: MamNamespace): string[] {
  return [...(ns === NS_MAM_2 ? MAM_2_FEATURES : MAM_1_FEATURES)];
}
