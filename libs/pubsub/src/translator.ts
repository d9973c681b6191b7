import xml, { type Element } from '@xmpp/xml';
import { buildErrorElement, parseXml, STORED_XML_LIMITS, StanzaError, type StanzaErrorCondition, type StanzaErrorType, iqReplyAttrs } from '@dbroker/protocol';
import { configFromFields, configToFields, type NodeConfig } from './config';
import type { PubsubEngine, PubsubError, PubsubErrorName, SubscriptionInfo } from './engine';
import {
  NS_DATA_FORMS,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  NS_PUBSUB,
  NS_PUBSUB_ERRORS,
  NS_PUBSUB_META_DATA,
  NS_PUBSUB_NODE_CONFIG,
  NS_PUBSUB_OWNER,
  NS_PUBSUB_PUBLISH_OPTIONS,
  PEP_FEATURES,
  PEP_IDENTITY,
} from './features';
import { accountJid } from '@dbroker/protocol';
import { buildRsmPageSet, NS_RSM, parseRsmPageRequest } from './rsm';
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
  conflict: { type: 'cancel', condition: 'conflict' },
  'invalid-jid': { type: 'modify', condition: 'bad-request', app: 'invalid-jid' },
  'not-subscribed': { type: 'cancel', condition: 'unexpected-request', app: 'not-subscribed' },
  'invalid-subid': { type: 'modify', condition: 'not-acceptable', app: 'invalid-subid' },
  // per-user limits (limits.ts says why each condition)
  'max-nodes-exceeded': { type: 'cancel', condition: 'policy-violation', app: 'max-nodes-exceeded' },
  'quota-exceeded': { type: 'wait', condition: 'resource-constraint' },
  'too-many-subscriptions': { type: 'wait', condition: 'policy-violation', app: 'too-many-subscriptions' },
  'too-many-affiliations': { type: 'cancel', condition: 'policy-violation' },
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

/** Pubsub verbs we do not implement, with the XEP-0060 §10 feature each needs. */
const UNSUPPORTED_VERBS: ReadonlyMap<string, string> = new Map([
  ['options', 'subscription-options'],
  ['default', 'retrieve-default-sub'],
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
  // XEP-0059 paging of a retrieval of all items (with max_items or ids the set is ignored)
  const rsmSet = pubsub.getChild('set', NS_RSM);
  const rsm = rsmSet ? parseRsmPageRequest(rsmSet) : undefined;
  if (rsm && !rsm.ok) throw refuse(rsm.error, rsm.text, rsm.error === 'unsupported' ? 'retrieve-items' : undefined);
  const page = rsm?.value;
  const result = await ctx.engine.getItems(owner, node, actor, { maxItems, itemIds: itemIds.length > 0 ? itemIds : undefined, page });
  if (!result.ok) throw engineError(result);
  // stored payloads were size-checked when published (the limit may have been raised since)
  const got = result.value;
  const children = got.items.map((i) => xml('item', { id: i.id }, parseXml(i.payload, STORED_XML_LIMITS)));
  // a page says where it lies when it was asked for or is not the whole node (XEP-0060 §6.5.4)
  const set = got.page && (page || got.page.firstIndex > 0 || got.items.length < got.page.count) ? buildRsmPageSet(got.items.map((i) => i.id), got.page.firstIndex, got.page.count) : undefined;
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node }, ...children), ...(set ? [set] : [])));
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

/** Reads the fields of a data form; `formType` must match when the form names one (or `requireFormType`). */
function formFields(form: Element, formType: string, requireFormType: boolean, err: PubsubProtocolErrorName): Array<{ name: string; values: string[] }> {
  const fields: Array<{ name: string; values: string[] }> = [];
  for (const f of form.getChildren('field', NS_DATA_FORMS)) {
    const name = f.attrs.var;
    if (!name) throw refuse(err, 'data form field without var');
    fields.push({ name, values: f.getChildren('value', NS_DATA_FORMS).map((v) => v.getText()) });
  }
  const ft = fields.find((f) => f.name === 'FORM_TYPE');
  if ((ft || requireFormType) && (!ft || ft.values.length !== 1 || ft.values[0]?.trim() !== formType)) throw refuse(err, `FORM_TYPE must be ${formType}`);
  return fields;
}

/**
 * A `pubsub#node_config` submission (XEP-0060 §8.2.5, §8.1.3): the partial config, or `cancel` for a
 * cancelled form. An option we do not implement, or a bad value, is `not-acceptable` (§8.2.5.3).
 */
function parseNodeConfigForm(parent: Element | undefined): Partial<NodeConfig> | 'cancel' | undefined {
  if (!parent) return undefined;
  const forms = parent.getChildElements();
  if (forms.length === 0) return undefined;
  const form = forms[0];
  if (forms.length > 1 || !form || !form.is('x', NS_DATA_FORMS)) throw refuse('bad-request', 'configure must hold one data form');
  if (form.attrs.type === 'cancel') return 'cancel';
  if (form.attrs.type !== 'submit') throw refuse('bad-request', 'configuration form must be of type submit or cancel');
  const parsed = configFromFields(formFields(form, NS_PUBSUB_NODE_CONFIG, false, 'bad-request'));
  if (!parsed.ok) throw refuse('not-acceptable', parsed.text);
  return parsed.value;
}

/** XEP-0004 form of a node configuration (§8.2.1 example 125 layout). */
export function nodeConfigForm(config: NodeConfig, type: 'form' | 'result' = 'form'): Element {
  const fields = configToFields(config).map((f) =>
    xml(
      'field',
      { var: f.name, type: f.type },
      ...(f.options ?? []).map((o) => xml('option', {}, xml('value', {}, o))),
      ...f.values.map((v) => xml('value', {}, v)),
    ),
  );
  return xml('x', { xmlns: NS_DATA_FORMS, type }, xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS_PUBSUB_NODE_CONFIG)), ...fields);
}

const subscriptionEl = (s: SubscriptionInfo, withNode: boolean) =>
  xml('subscription', { ...(withNode ? { node: s.node } : {}), jid: s.jid, subscription: s.state, subid: s.subid });

/** XEP-0060 §8.1.2 / §8.1.3: create a node, optionally configured. */
async function create(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'set', 'create');
  const createEl = pubsub.getChild('create', NS_PUBSUB)!;
  const node = createEl.attrs.node;
  // instant nodes (§8.1.2) are not offered: PEP nodes are named by their namespace
  if (node === undefined || node === '') throw refuse('nodeid-required', 'instant nodes are not supported');
  const config = parseNodeConfigForm(pubsub.getChild('configure', NS_PUBSUB));
  const result = await ctx.engine.createNode(owner, node, actor, config === 'cancel' ? undefined : config, { at: ctx.now?.() });
  if (!result.ok) throw engineError(result);
  return resultIq(iq);
}

/** XEP-0060 §6.1: subscribe. */
async function subscribe(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'set', 'subscribe');
  const el = pubsub.getChild('subscribe', NS_PUBSUB)!;
  const node = requireNode(el);
  const options = pubsub.getChild('options', NS_PUBSUB);
  if (options && options.getChildElements().length > 0) throw refuse('unsupported', undefined, 'subscription-options');
  const result = await ctx.engine.subscribe(owner, node, actor, el.attrs.jid ?? '', { at: ctx.now?.() });
  if (!result.ok) throw engineError(result);
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, subscriptionEl(result.value.subscription, true)));
}

/** XEP-0060 §6.2: unsubscribe. */
async function unsubscribe(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'set', 'unsubscribe');
  const el = pubsub.getChild('unsubscribe', NS_PUBSUB)!;
  const node = requireNode(el);
  const subid = el.attrs.subid === '' ? undefined : el.attrs.subid;
  const result = await ctx.engine.unsubscribe(owner, node, actor, el.attrs.jid ?? '', subid, { at: ctx.now?.() });
  if (!result.ok) throw engineError(result);
  return resultIq(iq);
}

const optionalNode = (el: Element) => (el.attrs.node === undefined || el.attrs.node === '' ? undefined : el.attrs.node);

/** XEP-0060 §5.6: the requester's subscriptions. */
async function ownSubscriptions(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'get', 'subscriptions');
  const node = optionalNode(pubsub.getChild('subscriptions', NS_PUBSUB)!);
  const result = await ctx.engine.subscriptionsOf(owner, actor, node);
  if (!result.ok) throw engineError(result);
  const children = result.value.map((s) => subscriptionEl(s, true));
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscriptions', node === undefined ? {} : { node }, ...children)));
}

/** XEP-0060 §5.7: the requester's affiliations. */
async function ownAffiliations(iq: Element, pubsub: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  requireType(iq, 'get', 'affiliations');
  const node = optionalNode(pubsub.getChild('affiliations', NS_PUBSUB)!);
  const result = await ctx.engine.affiliationsOf(owner, actor, node);
  if (!result.ok) throw engineError(result);
  const children = result.value.map((a) => xml('affiliation', { node: a.node, affiliation: a.affiliation }));
  return resultIq(iq, xml('pubsub', { xmlns: NS_PUBSUB }, xml('affiliations', node === undefined ? {} : { node }, ...children)));
}

const ownerResult = (iq: Element, child?: Element) => resultIq(iq, child && xml('pubsub', { xmlns: NS_PUBSUB_OWNER }, child));

/** XEP-0060 §8 (`pubsub#owner`): configure, default, delete, purge, subscriptions, affiliations. */
async function ownerRequest(iq: Element, req: Element, ctx: PubsubIqContext, owner: string, actor: string): Promise<Element> {
  const verbs = req.getChildElements().filter((e) => e.getNS() === NS_PUBSUB_OWNER);
  const el = verbs[0];
  if (!el || verbs.length > 1 || req.getChildElements().length !== 1) {
    throw refuse('bad-request', verbs.length === 0 ? 'empty pubsub element' : 'one pubsub#owner request at a time');
  }
  const at = ctx.now?.();
  const type = iq.attrs.type;
  switch (el.name) {
    case 'configure': {
      const node = requireNode(el);
      if (type === 'get') {
        const result = await ctx.engine.getConfig(owner, node, actor);
        if (!result.ok) throw engineError(result);
        return ownerResult(iq, xml('configure', { node }, nodeConfigForm(result.value)));
      }
      const changes = parseNodeConfigForm(el);
      if (changes === undefined) throw refuse('bad-request', 'configure needs a data form');
      // §8.2.6: a cancelled form changes nothing (the node must still be the requester's)
      const result = changes === 'cancel' ? await ctx.engine.getConfig(owner, node, actor) : await ctx.engine.configure(owner, node, actor, changes, { at });
      if (!result.ok) throw engineError(result);
      return ownerResult(iq);
    }
    case 'default': {
      requireType(iq, 'get', 'default');
      return ownerResult(iq, xml('default', {}, nodeConfigForm(ctx.engine.defaultConfig())));
    }
    case 'delete': {
      requireType(iq, 'set', 'delete');
      const node = requireNode(el);
      const redirect = el.getChild('redirect', NS_PUBSUB_OWNER)?.attrs.uri;
      const result = await ctx.engine.deleteNode(owner, node, actor, { requestId: ctx.requestId, redirect: redirect || undefined, at });
      if (!result.ok) throw engineError(result);
      return ownerResult(iq);
    }
    case 'purge': {
      requireType(iq, 'set', 'purge');
      const result = await ctx.engine.purge(owner, requireNode(el), actor, { requestId: ctx.requestId, at });
      if (!result.ok) throw engineError(result);
      return ownerResult(iq);
    }
    case 'subscriptions': {
      const node = requireNode(el);
      if (type === 'get') {
        const result = await ctx.engine.getSubscriptions(owner, node, actor);
        if (!result.ok) throw engineError(result);
        return ownerResult(iq, xml('subscriptions', { node }, ...result.value.map((s) => subscriptionEl(s, false))));
      }
      const changes = el.getChildren('subscription', NS_PUBSUB_OWNER).map((c) => {
        const jid = c.attrs.jid;
        const subscription = c.attrs.subscription;
        if (!jid || (subscription !== 'subscribed' && subscription !== 'none')) throw refuse('bad-request', 'subscription needs a jid and subscribed or none');
        return { jid, subscription } as const;
      });
      const result = await ctx.engine.setSubscriptions(owner, node, actor, changes, { at });
      if (!result.ok) throw engineError(result);
      return ownerResult(iq);
    }
    case 'affiliations': {
      const node = requireNode(el);
      if (type === 'get') {
        const result = await ctx.engine.getAffiliations(owner, node, actor);
        if (!result.ok) throw engineError(result);
        return ownerResult(iq, xml('affiliations', { node }, ...result.value.map((a) => xml('affiliation', { jid: a.jid, affiliation: a.affiliation }))));
      }
      const changes = el.getChildren('affiliation', NS_PUBSUB_OWNER).map((c) => {
        const jid = c.attrs.jid;
        const affiliation = c.attrs.affiliation;
        if (!jid || !affiliation) throw refuse('bad-request', 'affiliation needs jid and affiliation');
        return { jid, affiliation };
      });
      const result = await ctx.engine.setAffiliations(owner, node, actor, changes, { at });
      if (!result.ok) throw engineError(result);
      return ownerResult(iq);
    }
    default:
      throw refuse('bad-request', `unknown pubsub#owner request ${el.name}`);
  }
}

async function dispatch(iq: Element, ctx: PubsubIqContext): Promise<Element> {
  const type = iq.attrs.type;
  if (!iq.is('iq') || (type !== 'get' && type !== 'set')) throw refuse('bad-request', 'not a get or set iq');
  const from = iq.attrs.from;
  const to = iq.attrs.to;
  if (!from || !to) throw refuse('bad-request', 'from and to are required');
  const owner = accountJid(to);
  const ownerReq = iq.getChild('pubsub', NS_PUBSUB_OWNER);
  if (ownerReq) return await ownerRequest(iq, ownerReq, ctx, owner, from);
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
  if (names.includes('create')) {
    only('create', 'configure');
    return await create(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('subscribe')) {
    only('subscribe', 'options');
    return await subscribe(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('unsubscribe')) {
    only('unsubscribe');
    return await unsubscribe(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('subscriptions')) {
    only('subscriptions');
    return await ownSubscriptions(iq, pubsub, ctx, owner, from);
  }
  if (names.includes('affiliations')) {
    only('affiliations');
    return await ownAffiliations(iq, pubsub, ctx, owner, from);
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
    // the request's deadline passed (libs/store): the worker runtime answers and counts it, not an error here
    if (err instanceof Error && err.name === 'DeadlineExceededError') throw err;
    ctx.logger?.error({ err, requestId: ctx.requestId }, 'pubsub request failed');
    return errorIq(iq, refuse('internal'));
  }
}

// ---- disco on the owner's bare JID (XEP-0030 answers for the delegated disco namespaces) --------------

export interface PepDiscoContext {
  engine: PubsubEngine;
  logger?: TranslatorLogger | undefined;
  /** Identities besides account/registered and pubsub/pep on the bare JID (e.g. the server's). */
  extraIdentities?: ReadonlyArray<{ category: string; type: string; name?: string }> | undefined;
  /** Features besides disco and PEP on the bare JID. */
  extraFeatures?: readonly string[] | undefined;
}

/** Identities of a user's bare JID that offers PEP (XEP-0163 §1, XEP-0030 registry `account/registered`). */
export const BARE_JID_IDENTITIES = Object.freeze([
  Object.freeze({ category: 'account', type: 'registered' }),
  Object.freeze({ ...PEP_IDENTITY }),
]);

/** Whatever is refused in disco looks like a node that does not exist (no existence leak). */
const discoNotFound = () => refuse('item-not-found');

function discoQuery(iq: Element, ns: string): { query: Element; node: string | undefined; owner: string; from: string } {
  if (!iq.is('iq') || iq.attrs.type !== 'get') throw refuse('bad-request', 'disco requests are iq get');
  const query = iq.getChild('query', ns);
  if (!query || iq.getChildElements().length !== 1) throw refuse('bad-request', `one ${ns} query expected`);
  const from = iq.attrs.from;
  const to = iq.attrs.to;
  if (!from || !to) throw refuse('bad-request', 'from and to are required');
  return { query, node: optionalNode(query), owner: accountJid(to), from };
}

/** XEP-0060 §5.4 meta-data of a node. */
function metaDataForm(owner: string, config: NodeConfig, createdAt: Date): Element {
  const field = (name: string, value: string, type?: string) => xml('field', type ? { var: name, type } : { var: name }, xml('value', {}, value));
  return xml(
    'x',
    { xmlns: NS_DATA_FORMS, type: 'result' },
    field('FORM_TYPE', NS_PUBSUB_META_DATA, 'hidden'),
    field('pubsub#owner', owner, 'jid-multi'),
    field('pubsub#creation_date', createdAt.toISOString(), 'text-single'),
    field('pubsub#access_model', config.access_model, 'list-single'),
    field('pubsub#publish_model', config.publish_model, 'list-single'),
  );
}

async function discoInfo(iq: Element, ctx: PepDiscoContext): Promise<Element> {
  const { query, node, owner, from } = discoQuery(iq, NS_DISCO_INFO);
  if (node === undefined) {
    const identities = [...BARE_JID_IDENTITIES, ...(ctx.extraIdentities ?? [])].map((i) => xml('identity', { ...i }));
    const features = [...new Set([NS_DISCO_INFO, NS_DISCO_ITEMS, ...PEP_FEATURES, ...(ctx.extraFeatures ?? [])])].map((f) => xml('feature', { var: f }));
    return resultIq(iq, xml('query', { xmlns: NS_DISCO_INFO }, ...identities, ...features));
  }
  const found = await ctx.engine.readableNode(owner, node, from);
  if (!found.ok) throw discoNotFound();
  return resultIq(
    iq,
    xml(
      'query',
      { xmlns: NS_DISCO_INFO, node: query.attrs.node },
      xml('identity', { category: 'pubsub', type: 'leaf' }),
      xml('feature', { var: NS_PUBSUB }),
      metaDataForm(owner, found.value.config, found.value.createdAt),
    ),
  );
}

async function discoItems(iq: Element, ctx: PepDiscoContext): Promise<Element> {
  const { query, node, owner, from } = discoQuery(iq, NS_DISCO_ITEMS);
  if (node === undefined) {
    const nodes = await ctx.engine.readableNodes(owner, from);
    return resultIq(iq, xml('query', { xmlns: NS_DISCO_ITEMS }, ...nodes.map((n) => xml('item', { jid: owner, node: n.node }))));
  }
  const found = await ctx.engine.readableNode(owner, node, from);
  if (!found.ok) throw discoNotFound();
  // the readable check above and the listing below are two reads; a denial in between is still not-found
  const listed = await ctx.engine.getItems(owner, node, from);
  if (!listed.ok) throw discoNotFound();
  return resultIq(iq, xml('query', { xmlns: NS_DISCO_ITEMS, node: query.attrs.node }, ...listed.value.items.map((i) => xml('item', { jid: owner, name: i.id }))));
}

async function answerDisco(iq: Element, ctx: PepDiscoContext, fn: (iq: Element, ctx: PepDiscoContext) => Promise<Element>): Promise<Element> {
  try {
    return await fn(iq, ctx);
  } catch (err) {
    if (err instanceof Refusal) {
      // disco errors carry no pubsub application condition
      const reply = xml('iq', iqReplyAttrs(iq, 'error'), buildErrorElement(new StanzaError(PUBSUB_ERROR_TABLE[err.name].condition, { type: PUBSUB_ERROR_TABLE[err.name].type })));
      ctx.logger?.debug?.({ error: err.name, text: err.text }, 'pep disco request refused');
      return reply;
    }
    ctx.logger?.error({ err }, 'pep disco request failed');
    return errorIq(iq, refuse('internal'));
  }
}

/**
 * XEP-0030 disco#info to a user's bare JID: without node the account and PEP identities and PEP
 * features; with a node its `pubsub/leaf` identity and meta-data when the requester may read it, else
 * `item-not-found` (as for a node that does not exist).
 */
export function handlePepDiscoInfo(iq: Element, ctx: PepDiscoContext): Promise<Element> {
  return answerDisco(iq, ctx, discoInfo);
}

/**
 * XEP-0030 disco#items to a user's bare JID: without node the nodes the requester may read
 * (`<item jid=owner node/>`); with a node its item ids (`<item jid=owner name=id/>`) when readable,
 * else `item-not-found`.
 */
export function handlePepDiscoItems(iq: Element, ctx: PepDiscoContext): Promise<Element> {
  return answerDisco(iq, ctx, discoItems);
}

/** Routes a disco#info or disco#items get to its handler; undefined when `iq` is neither. */
export function handlePepDiscoIq(iq: Element, ctx: PepDiscoContext): Promise<Element> | undefined {
  if (iq.getChild('query', NS_DISCO_INFO)) return handlePepDiscoInfo(iq, ctx);
  if (iq.getChild('query', NS_DISCO_ITEMS)) return handlePepDiscoItems(iq, ctx);
  return undefined;
}
