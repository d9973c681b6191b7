import type { Element } from '@xmpp/xml';
import { fail, ok, type Result } from '@dbroker/protocol';

const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_MAM = new Set(['urn:xmpp:mam:2', 'urn:xmpp:mam:1']);
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_DELAY = 'urn:xmpp:delay';
const NS_SHIM = 'http://jabber.org/protocol/shim';
const NS_CLIENT = 'jabber:client';

const elements = (el: Element): Element[] => el.children.filter((c): c is Element => typeof c === 'object');
const nsOf = (el: Element): string | undefined => el.getNS() || undefined;
const describe = (el: Element) => `<${el.name}${nsOf(el) && nsOf(el) !== NS_CLIENT ? ` xmlns='${nsOf(el)}'` : ''}/>`;

/**
 * Defence in depth behind the bus permissions: the ingress sends on a worker's behalf only what the
 * workers produce, so a bus client that got hold of `out` still cannot make a user say anything.
 *  - a PubSub event notification (XEP-0060 §7.1.2): `<message type='headline'|'normal'|none>` with one
 *    `<event xmlns='…pubsub#event'/>`, optionally `<delay/>` (last item on subscribe) and SHIM `<headers/>`;
 *  - a MAM result (XEP-0313 §4.2): `<message>` (no type) with one `<result xmlns='urn:xmpp:mam:2|1'>`
 *    holding a `<forwarded/>` of a `<delay/>` and a `<message>` that carries only a pubsub `<event/>`.
 * Everything else (a `<body/>`, a chat, a subject, any other payload) is refused. Address checks (bare
 * JID of the served domain) are checkPrivilegedOutbound's.
 */
export function checkProductMessage(msg: Element): Result<'notification' | 'mam-result'> {
  const type = msg.attrs.type;
  const children = elements(msg);
  const event = children.filter((c) => c.name === 'event' && nsOf(c) === NS_PUBSUB_EVENT);
  const result = children.filter((c) => c.name === 'result' && NS_MAM.has(nsOf(c) ?? ''));
  if (event.length === 1 && result.length === 0) {
    if (type !== undefined && type !== 'headline' && type !== 'normal') return fail(`notification of type '${type}' (only headline or normal are sent)`, 'forbidden');
    const other = children.find((c) => c !== event[0] && !(c.name === 'delay' && nsOf(c) === NS_DELAY) && !(c.name === 'headers' && nsOf(c) === NS_SHIM));
    if (other) return fail(`notification carries ${describe(other)} (only a pubsub event, delay and SHIM headers are sent)`, 'forbidden');
    return ok('notification');
  }
  if (result.length === 1 && event.length === 0) {
    if (type !== undefined && type !== 'normal') return fail(`MAM result of type '${type}' (sent without a type)`, 'forbidden');
    if (children.length !== 1) return fail(`MAM result message carries ${describe(children.find((c) => c !== result[0])!)} besides the result`, 'forbidden');
    const inner = elements(result[0]!);
    const forwarded = inner[0];
    if (inner.length !== 1 || forwarded?.name !== 'forwarded' || nsOf(forwarded) !== NS_FORWARD) return fail('MAM result without exactly one <forwarded/>', 'forbidden');
    const fwd = elements(forwarded);
    const archived = fwd.filter((c) => c.name === 'message');
    if (archived.length !== 1 || fwd.some((c) => c.name !== 'message' && !(c.name === 'delay' && nsOf(c) === NS_DELAY))) return fail('MAM result <forwarded/> must hold one <delay/> and one <message/>', 'forbidden');
    const m = archived[0]!;
    if ((nsOf(m) ?? NS_CLIENT) !== NS_CLIENT) return fail(`archived message in namespace '${nsOf(m)}'`, 'forbidden');
    const mc = elements(m);
    if (mc.length !== 1 || mc[0]!.name !== 'event' || nsOf(mc[0]!) !== NS_PUBSUB_EVENT) return fail('archived message carries more than a pubsub event', 'forbidden');
    if (m.children.some((c) => typeof c === 'string' && c.trim() !== '')) return fail('archived message carries text', 'forbidden');
    return ok('mam-result');
  }
  return fail(`only pubsub event notifications and MAM results are sent for workers (got ${children.map(describe).join(', ') || 'an empty message'})`, 'forbidden');
}
