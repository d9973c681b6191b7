import xml, { type Element } from '@xmpp/xml';
import { buildErrorElement, parseXml, StanzaError, type StanzaErrorCondition, type StanzaErrorType, iqReplyAttrs } from '@dbroker/protocol';
import { configFromFields, type NodeConfig } from './config';
import type { PubsubEngine, PubsubError, PubsubErrorName } from './engine';
import { NS_DATA_FORMS, NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_OWNER, NS_PUBSUB_PUBLISH_OPTIONS } from './features';
import { bareJid } from './jid';
import { serializeStandalone } from './xml';

/**
 * XEP-0060 ⇄ engine. Reads an inner IQ in the `http://jabber.org/protocol/pubsub` namespace, calls the
 * engine, and builds the reply IQ. Every error, the engine's and the protocol's own, goes through
 * `PUBSUB_ERROR_TABLE`; anything thrown becomes `internal-server-error` and its message stays in the log.
 */

/** Engine errors plus those only the protocol layer can detect. */
export type PubsubProtocolErrorName = PubsubErrorName | 'nodeid-required' | 'invalid-payload' | 'invalid-options' | 'unsupported';

export interface StanzaErrorSpec {
  type: StanzaErrorType;
  /** RFC 6120 §8.3.3 defined condition. */
  condition: StanzaErrorCondition;
  /** XEP-0060 application-specific condition (`http://jabber.org/protocol/pubsub#errors`). */
  app?: string;
}

/** The one table from error names to XMPP errors (XEP-0060 §6.5.9, §7.1.3, §7.1.5, §7.2.3). */
export const PUBSUB_ERROR_TABLE: Readonly<Record<PubsubProtocolErrorName, StanzaErrorSpec>> = Object.freeze({
  'item-not-found': { type: 'cancel', condition: 'item-not-found' },
  'node-not-found': { type: 'cancel', condition: 'item-not-found' },
  forbidden: { type: 'auth', condition: 'forbidden' },
  'bad-request': { type: 'modify', condition: 'bad-request' },
  'not-acceptable': { type: 'modify', condition: 'not-acceptable' },
  'precondition-not-met': { type: 'cancel', condition: 'conflict', app: 'precondition-not-met' },
  'invalid-item': { type: 'modify', condition: 'bad-request' },
  'payload-too-big': { type: 'modify', condition: 'not-acceptable', app: 'payload-too-big' },
  'payload-required': { type: 'modify', condition: 'bad-request', app: 'payload-required' },
  'item-required': { type: 'modify', condition: 'bad-request', app: 'item-required' },
  'presence-subscription-required': { type: 'auth', condition: 'not-authorized', app: 'presence-subscription-required' },
  'not-in-roster-group': { type: 'auth', condition: 'not-authorized', app: 'not-in-roster-group' },
  'closed-node': { type: 'cancel', condition: 'not-allowed', app: 'closed-node' },
  internal: { type: 'cancel', condition: 'internal-server-error' },
  'nodeid-required': { type: 'modify', condition: 'bad-request', app: 'nodeid-required' },
  'invalid-payload': { type: 'modify', condition: 'bad-request', app: 'invalid-payload' },
  'invalid-options': { type: 'modify', condition: 'bad-request', app: 'invalid-options' },
  unsupported: { type: 'cancel', condition: 'feature-not-implemented', app: 'unsupported' },
});

/** The stanza error for an error name; `feature` goes on `<unsupported/>`. */
export function pubsubStanzaError(name: PubsubProtocolErrorName, opts: { text?: string | undefined; feature?: string | undefined } = {}): StanzaError {
  const spec = PUBSUB_ERROR_TABLE[name];
  const appCondition = spec.app ? xml(spec.app, spec.app === 'unsupported' && opts.feature ? { xmlns: NS_PUBSUB_ERRORS, feature: opts.feature } : { xmlns: NS_PUBSUB_ERRORS }) : undefined;
  return new StanzaError(spec.condition, { type: spec.type, ...(opts.text ? { text: opts.text } : {}), ...(appCondition ? { appCondition } : {}) });
}

/** `<error/>` for an error name (RFC 6120 §8.3.2 layout, XEP-0060 application condition). */
export function pubsubErrorElement(name: PubsubProtocolErrorName, opts: { text?: string | undefined; feature?: string | undefined } = {}): Element {
  return buildErrorElement(pubsubStanzaError(name, opts));
}

/** Pubsub verbs we do not implement yet, with the XEP-0060 §10 feature each needs. */
const UNSUPPORTED_VERBS: ReadonlyMap<string, string> = new Map([
  ['subscribe', 'subscribe'],
  ['unsubscribe', 'subscribe'],
  ['options', 'subscription-options'],
  ['subscriptions', 'retrieve-subscriptions'],
  ['affiliations', 'retrieve-affiliations'],
  ['create', 'create-nodes'],
  ['configure', 'config-node'],
  ['default', 'retrieve-default'],
]);

/** Owner use cases (XEP-0060 §8, `pubsub#owner`) not implemented yet, with their features. */
const UNSUPPORTED_OWNER_VERBS: ReadonlyMap<string, string> = new Map([
  ['configure', 'config-node'],
  ['default', 'retrieve-default'],
  ['delete', 'delete-nodes'],
  ['purge', 'purge-nodes'],
  ['subscriptions', 'manage-subscriptions'],
  ['affiliations', 'modify-affiliations'],
]);

export interface TranslatorLogger {
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface PubsubIqContext {
  engine: PubsubEngine;
  /** Idempotency key of this request (a retry carries the same one). */
  requestId: string;
  now?: (() => Date) | undefined;
  logger?: TranslatorLogger | undefined;
}

/** Thrown inside the translator to refuse a request; turned into the error reply. */
class Refusal {
  constructor(
    readonly name: PubsubProtocolErrorName,
    readonly text?: string,
    readonly feature?: string,
  ) {}
}

const refuse = (name: PubsubProtocolErrorName, text?: string, feature?: string) => new Refusal(name, text, feature);

function engineError(err: PubsubError): Refusal {
  // an internal error's detail is for the log, never the wire
  return err.error === 'internal' ? refuse('internal') : refuse(err.error, err.text);
}


function resultIq(iq: Element, child?: Element): Element {
  return child ? xml('iq', iqReplyAttrs(iq, 'result'), child) : xml('iq', iqReplyAttrs(iq, 'result'));
}

function errorIq(iq: Element, err: Refusal): Element {
  return xml('iq', iqReplyAttrs(iq, 'error'), pubsubErrorElement(err.name, { text: err.text, feature: err.feature }));
}

const requireType = (iq: Element, type: 'get' | 'set', verb: string) => {
  if (iq.attrs.type !== type) throw refuse('bad-request', `${verb} requires an iq of type ${type}`);
};

function requireNode(el: Element): string {
  const node = el.attrs.node;
  if (node === undefined || node === '') throw refuse('nodeid-required');
  return node;
}

/** `<publish-options><x xmlns='jabber:x:data' type='submit'>` (XEP-0060 §7.1.5) → partial config. */
function parsePublishOptions(el: Element | undefined): Partial<NodeConfig> | undefined {
  if (!el) return undefined;
  const forms = el.getChildElements();
  if (forms.length === 0) return undefined;
  const form = forms[0];
  if (forms.length > 1 || !form || !form.is('x', NS_DATA_FORMS)) throw refuse('invalid-options', 'publish-options must hold one data form');
  if (form.attrs.type !== undefined && form.attrs.type !== 'submit') throw refuse('invalid-options', 'publish-options form must be of type submit');
  const fields: Array<{ name: string; values: string[] }> = [];
  for (const f of form.getChildren('field', NS_DATA_FORMS)) {
    const name = f.attrs.var;
    if (!name) throw refuse('invalid-options', 'data form field without var');
    fields.push({ name, values: f.getChildren('value', NS_DATA_FORMS).map((v) => v.getText()) });
  }
  const formType = fields.find((f) => f.name === 'FORM_TYPE');
  if (!formType || formType.values.length !== 1 || formType.values[0]?.trim() !== NS_PUBSUB_PUBLISH_OPTIONS) {
    throw refuse('invalid-options', `FORM_TYPE must be ${NS_PUBSUB_PUBLISH_OPTIONS}`);
  }
  const parsed = configFromFields(fields);
  if (!parsed.ok) throw refuse(parsed.error === 'bad-request' ? 'invalid-options' : parsed.error, parsed.text);
  return parsed.value;
}

/** XEP-0060 §7.1: publish an item. */
async function publish(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'set', 'publish');
  const publishEl = pubsub.getChild('publish', NS_PUBSUB);
  if (!publishEl) throw refuse('bad-request');
  const node = requireNode(publishEl);
  const items = publishEl.getChildren('item', NS_PUBSUB);
  if (items.length === 0) throw refuse('item-required');
  const item = items[0];
  if (items.length > 1 || !item) throw refuse('bad-request', 'one item per publish');
  const payloads = item.getChildElements();
  const payload = payloads[0];
  if (!payload) throw refuse('payload-required');
  if (payloads.length > 1) throw refuse('invalid-payload', 'an item holds exactly one payload element');
  const publishOptions = parsePublishOptions(pubsub.getChild('publish-options', NS_PUBSUB));
  const itemId = item.attrs.id === undefined || item.attrs.id === '' ? undefined : item.attrs.id;

  const result = await ctx.engine.publish(owner, node, actor, itemId, serializeStandalone(payload), {
    requestId: ctx.requestId,
    publishOptions,
    at: ctx.now?.(),
  });
  if (!result.ok) throw engineError(result);
  // XEP-0060 §7.1.2 example 100: the reply names the item (required when the service generated the id)
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node }, xml('item', { id: result.value.itemId }))));
}

function parseMaxItems(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) < 1) throw refuse('bad-request', 'max_items must be a positive integer');
  return Number(raw);
}

/** XEP-0060 §6.5: retrieve items (all, the most recent N, or by id). */
async function items(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'get', 'items');
  const itemsEl = pubsub.getChild('items', NS_PUBSUB);
  if (!itemsEl) throw refuse('bad-request');
  const node = requireNode(itemsEl);
  const maxItems = parseMaxItems(itemsEl.attrs.max_items);
  const wanted = itemsEl.getChildren('item', NS_PUBSUB);
  const itemIds: string[] = [];
  for (const w of wanted) {
    const id = w.attrs.id;
    if (id === undefined || id === '') throw refuse('item-required', 'item without id');
    itemIds.push(id);
  }
  const result = await ctx.engine.getItems(owner, node, actor, { maxItems, itemIds: itemIds.length > 0 ? itemIds : undefined });
  if (!result.ok) throw engineError(result);
  // stored payloads were size-checked when published (the limit may have been raised since)
  const children = result.value.items.map((i) => xml('item', { id: i.id }, parseXml(i.payload, { maxBytes: Number.POSITIVE_INFINITY })));
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node }, ...children)));
}

function parseNotify(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw refuse('bad-request', 'notify must be a boolean');
}

/** XEP-0060 §7.2: delete (retract) an item. */
async function retract(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'set', 'retract');
  const retractEl = pubsub.getChild('retract', NS_PUBSUB);
  if (!retractEl) throw refuse('bad-request');
  const node = requireNode(retractEl);
  const notify = parseNotify(retractEl.attrs.notify);
  const retractItems = retractEl.getChildren('item', NS_PUBSUB);
  if (retractItems.length > 1) throw refuse('bad-request', 'one item per retract');
  const itemId = retractItems[0]?.attrs.id;
  if (itemId === undefined || itemId === '') throw refuse('item-required');
  const result = await ctx.engine.retract(owner, node, actor, itemId, { requestId: ctx.requestId, notify, at: ctx.now?.() });
  if (!result.ok) throw engineError(result);
  return resultIq(iq);
}

async function dispatch(iq: Element, ctx: PubsubIqContext): Promise<Element> {
  const type = iq.attrs.type;
  if (!iq.is('iq') || (type !== 'get' && type !== 'set')) throw refuse('bad-request', 'not a get or set iq');
  const from = iq.attrs.from;
  const to = iq.attrs.to;
  if (!from || !to) throw refuse('bad-request', 'from and to are required');
  const owner = bareJid(to);
  const ownerRequest = iq.getChild('pubsub', NS_PUBSUB_OWNER);
  if (ownerRequest) {
    const verb = ownerRequest.getChildElements().find((e) => e.getNS() === NS_PUBSUB_OWNER)?.name;
    const feature = verb === undefined ? undefined : UNSUPPORTED_OWNER_VERBS.get(verb);
    if (feature) throw refuse('unsupported', undefined, feature);
    throw refuse('bad-request', verb === undefined ? 'empty pubsub element' : `unknown pubsub#owner request ${verb}`);
  }
  const pubsub = iq.getChild('pubsub', NS_PUBSUB);
  if (!pubsub) throw refuse('bad-request', 'no pubsub element');
  const verbs = pubsub.getChildElements().filter((e) => e.getNS() === NS_PUBSUB);
  const names = verbs.map((v) => v.name);
  const only = (...allowed: string[]) => {
    if (names.some((n) => !allowed.includes(n)) || new Set(names).size !== names.length) throw refuse('bad-request', 'unexpected pubsub children');
  };

  if (names.includes('publish')) {
    only('publish', 'publish-options');
    return await publish(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('retract')) {
    only('retract');
    return await retract(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('items')) {
    only('items');
    return await items(iq, pubsub, ctx, owner, from);
  }
  const first = names[0];
  const feature = first === undefined ? undefined : UNSUPPORTED_VERBS.get(first);
  if (feature) throw refuse('unsupported', undefined, feature);
  throw refuse('bad-request', first === undefined ? 'empty pubsub element' : `unknown pubsub request ${first}`);
}

/**
 * Answers one pubsub IQ. `iq` is the inner stanza (`jabber:client`): `from` the requester's full JID,
 * `to` the owner's bare JID. The reply is `<iq type='result'>` with at most one child, or
 * `<iq type='error'><error/></iq>`; its `from`/`to` are the request's swapped and its `id` the same.
 */
export async function handlePubsubIq(iq: Element, ctx: PubsubIqContext): Promise<Element> {
  try {
    return await dispatch(iq, ctx);
  } catch (err) {
    if (err instanceof Refusal) {
      ctx.logger?.debug?.({ requestId: ctx.requestId, error: err.name, text: err.text }, 'pubsub request refused');
      return errorIq(iq, err);
    }
    ctx.logger?.error({ err, requestId: ctx.requestId }, 'pubsub request failed');
    return errorIq(iq, refuse('internal'));
  }
}
