import { readFile, stat } from 'node:fs/promises';
import xml, { type Element } from '@xmpp/xml';
import { parseXml, ProtocolError } from '@dbroker/protocol';
import { CONFIG_FIELD_NAMES, configFromFields, configToFields, serializeStandalone, type NodeConfig, type NodeConfigKey } from '@dbroker/pubsub';
import type { ImportAffiliation, ImportItem, ImportNode, ImportProblem, ImportSource, ImportSubscription, ImportUser } from './model';

/**
 * XEP-0227 (Portable Import/Export Format, `urn:xmpp:pie:0`): `<server-data>` holds `<host jid>` elements,
 * each holding `<user name>` elements. PEP lives inside `<user>` as two XEP-0060 containers, the way
 * Prosody's mod_storage_xep0227 (prosody 0.12) reads and writes them:
 * - `<pubsub xmlns='http://jabber.org/protocol/pubsub'>` with one `<items node>` per node, each `<item id>`
 *   holding the payload (oldest first);
 * - `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>` with, per node, `<configure node>` (a
 *   submitted pubsub#node_config data form), `<affiliations node>` (`<affiliation jid affiliation/>`) and
 *   `<subscriptions node>` (`<subscription jid subscription='subscribed'/>`; Prosody 0.12 writes the state
 *   in an attribute named `subscribed` by mistake, and reads `subscription`: both are accepted here).
 * A node that only has `<items>` takes the default configuration (as Prosody does).
 * The format has no publisher or time for an item: the broker's export adds XEP-0060's `publisher`
 * attribute and a `stamp` attribute in its own namespace (`urn:dbroker:pie:0`), which other importers
 * ignore; an import without them takes the owner as publisher and the import time.
 */

export const NS_PIE = 'urn:xmpp:pie:0';
export const NS_DBROKER_PIE = 'urn:dbroker:pie:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
const NS_DATA = 'jabber:x:data';
const AFFILIATIONS = ['member', 'publisher', 'outcast'] as const;

export const DEFAULT_MAX_XEP0227_BYTES = 1024 * 1024 * 1024;

export interface Xep0227Options {
  file: string;
  /** Largest file read, in bytes. Default 1 GiB (the file is parsed in memory). */
  maxBytes?: number | undefined;
  now?: (() => Date) | undefined;
}

/** A document without its XML declaration and byte order mark (the strict parser takes one element). */
function stripProlog(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/^\s*<\?xml[^?]*\?>\s*/, '').trim();
}

function formFields(x: Element | undefined): Array<{ name: string; values: string[] }> {
  return (x?.getChildren('field') ?? []).map((f) => ({ name: String(f.attrs.var ?? ''), values: f.getChildren('value').map((v) => v.getText()) }));
}

const KNOWN_FIELDS = new Set(Object.values(CONFIG_FIELD_NAMES));

/** The node config in a submitted form; fields the broker does not have are listed as dropped. */
export function configFromForm(x: Element | undefined): { config: Partial<NodeConfig>; dropped: string[] } {
  const config: Partial<NodeConfig> = {};
  const dropped: string[] = [];
  for (const field of formFields(x)) {
    if (field.name === 'FORM_TYPE') continue;
    // Prosody's form lists every field, those not set without a value: not set means the default
    if (field.values.length === 0) continue;
    if (!KNOWN_FIELDS.has(field.name)) {
      if (field.values.some((v) => v !== '')) dropped.push(`${field.name}=${field.values.join(',')}`);
      continue;
    }
    const parsed = configFromFields([field]);
    if (parsed.ok) Object.assign(config, parsed.value);
    else dropped.push(`${field.name}=${field.values.join(',')} (${parsed.text})`);
  }
  return { config, dropped };
}

/** One `<user>` element's PEP. Throws ProtocolError-free; problems are returned per node. */
export function userFromElement(userEl: Element, host: string, now: Date): ImportUser {
  const owner = `${String(userEl.attrs.name ?? '')}@${host}`;
  const problems: ImportProblem[] = [];
  const nodes = new Map<string, ImportNode>();
  const nodeOf = (name: string): ImportNode => {
    let n = nodes.get(name);
    if (!n) nodes.set(name, (n = { name, config: {}, affiliations: [], subscriptions: [], items: [], dropped: [] }));
    return n;
  };
  const bad = new Set<string>();
  for (const owned of userEl.getChildren('pubsub', NS_PUBSUB_OWNER)) {
    for (const el of owned.getChildElements()) {
      const name = el.attrs.node;
      if (typeof name !== 'string' || name === '') {
        problems.push({ owner, where: `<${el.name}>`, message: 'no node attribute' });
        continue;
      }
      const node = nodeOf(name);
      if (el.name === 'configure') {
        const { config, dropped } = configFromForm(el.getChild('x', NS_DATA));
        node.config = { ...node.config, ...config };
        node.dropped.push(...dropped);
      } else if (el.name === 'affiliations') {
        for (const a of el.getChildren('affiliation')) {
          const jid = String(a.attrs.jid ?? '');
          const aff = String(a.attrs.affiliation ?? '');
          if (jid === owner || aff === 'owner' || aff === 'none') continue;
          if (jid === '' || jid.includes('/') || !(AFFILIATIONS as readonly string[]).includes(aff)) node.dropped.push(`affiliation ${jid}=${aff}`);
          else node.affiliations.push({ jid, affiliation: aff as ImportAffiliation['affiliation'] });
        }
      } else if (el.name === 'subscriptions') {
        for (const s of el.getChildren('subscription')) {
          const jid = String(s.attrs.jid ?? '');
          const state = s.attrs.subscription ?? s.attrs.subscribed;
          if (jid !== '' && state === 'subscribed') node.subscriptions.push({ jid, ...(typeof s.attrs.subid === 'string' ? { subid: s.attrs.subid } : {}) } as ImportSubscription);
        }
      } else node.dropped.push(`<${el.name}/>`);
    }
  }
  for (const pubsub of userEl.getChildren('pubsub', NS_PUBSUB)) {
    for (const itemsEl of pubsub.getChildren('items')) {
      const name = itemsEl.attrs.node;
      if (typeof name !== 'string' || name === '') {
        problems.push({ owner, where: '<items>', message: 'no node attribute' });
        continue;
      }
      const node = nodeOf(name);
      const byId = new Map<string, ImportItem>();
      for (const [i, itemEl] of itemsEl.getChildren('item').entries()) {
        const id = itemEl.attrs.id;
        const payloads = itemEl.getChildElements();
        if (typeof id !== 'string' || id === '' || payloads.length !== 1) {
          problems.push({ owner, node: name, where: `<items node='${name}'> item ${i + 1}`, message: 'an item needs an id and exactly one payload element' });
          bad.add(name);
          break;
        }
        const stamp = itemEl.attrs[`${prefixOf(itemEl, NS_DBROKER_PIE)}:stamp`];
        const at = typeof stamp === 'string' ? new Date(stamp) : now;
        if (Number.isNaN(at.getTime())) {
          problems.push({ owner, node: name, where: `<item id='${id}'>`, message: 'invalid stamp' });
          bad.add(name);
          break;
        }
        byId.delete(id);
        byId.set(id, { id, payload: serializeStandalone(payloads[0]!), publisher: typeof itemEl.attrs.publisher === 'string' ? itemEl.attrs.publisher : owner, at });
      }
      node.items.push(...byId.values());
    }
  }
  for (const name of bad) nodes.delete(name);
  for (const n of nodes.values()) n.affiliations.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
  return { owner, nodes: [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), problems };
}

/** The prefix declared for `ns` on `el` or an ancestor, or `dbroker` (what the export writes). */
function prefixOf(el: Element, ns: string): string {
  for (let e: Element | undefined = el; e; e = e.parent as Element | undefined) {
    for (const [k, v] of Object.entries(e.attrs)) if (k.startsWith('xmlns:') && v === ns) return k.slice(6);
  }
  return 'dbroker';
}

export function createXep0227Source(opts: Xep0227Options): ImportSource {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_XEP0227_BYTES;
  let doc: Promise<Element> | undefined;
  const load = () =>
    (doc ??= (async () => {
      const size = (await stat(opts.file)).size;
      if (size > maxBytes) throw new Error(`${opts.file}: ${size} bytes, more than the ${maxBytes} allowed`);
      const root = parseXml(stripProlog(await readFile(opts.file, 'utf8')), { maxBytes, maxDepth: 256 });
      if (root.name !== 'server-data' || root.getNS() !== NS_PIE) throw new ProtocolError('malformed-xml', `${opts.file}: not a XEP-0227 <server-data xmlns='${NS_PIE}'> document`);
      return root;
    })());
  const usersOf = (root: Element) => root.getChildren('host').flatMap((h) => h.getChildren('user').map((u) => ({ host: String(h.attrs.jid ?? '').toLowerCase(), user: u })));
  return {
    label: `xep0227:${opts.file}`,
    async countUsers() {
      return usersOf(await load()).length;
    },
    async *users() {
      const now = (opts.now ?? (() => new Date()))();
      for (const { host, user } of usersOf(await load())) {
        if (host === '' || typeof user.attrs.name !== 'string' || user.attrs.name === '') {
          yield { owner: `${String(user.attrs.name ?? '?')}@${host || '?'}`, nodes: [], problems: [{ where: '<user>', message: 'a user needs a name inside a host with a jid' }] };
          continue;
        }
        yield userFromElement(user, host, now);
      }
    },
  };
}

// ---- export --------------------------------------------------------------------------------------------

export interface ExportNode {
  name: string;
  config: NodeConfig;
  affiliations: ReadonlyArray<{ jid: string; affiliation: string }>;
  subscriptions: ReadonlyArray<{ jid: string; subid: string }>;
  /** Current items, publication order. */
  items: ReadonlyArray<{ id: string; payload: string; publisher: string | null; at: Date }>;
}

/** One account's PEP as a XEP-0227 `<user>` element. */
export function userElement(localpart: string, nodes: readonly ExportNode[]): Element {
  const user = xml('user', { name: localpart });
  if (nodes.length === 0) return user;
  const withItems = nodes.filter((n) => n.items.length > 0);
  if (withItems.length > 0) {
    user.children.push(
      xml(
        'pubsub',
        { xmlns: NS_PUBSUB, 'xmlns:dbroker': NS_DBROKER_PIE },
        ...withItems.map((n) =>
          xml(
            'items',
            { node: n.name },
            ...n.items.map((i) => {
              const item = xml('item', { id: i.id, ...(i.publisher ? { publisher: i.publisher } : {}), 'dbroker:stamp': i.at.toISOString() });
              item.children.push(parseXml(i.payload, { maxBytes: Number.POSITIVE_INFINITY }));
              return item;
            }),
          ),
        ),
      ),
    );
  }
  const owner = xml('pubsub', { xmlns: NS_PUBSUB_OWNER });
  for (const n of nodes) {
    const form = xml('x', { xmlns: NS_DATA, type: 'submit' }, xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')));
    for (const f of configToFields(n.config)) form.children.push(xml('field', { var: f.name }, ...f.values.map((v) => xml('value', {}, v))));
    owner.children.push(xml('configure', { node: n.name }, form));
    if (n.affiliations.length) owner.children.push(xml('affiliations', { node: n.name }, ...n.affiliations.map((a) => xml('affiliation', { jid: a.jid, affiliation: a.affiliation }))));
    if (n.subscriptions.length) owner.children.push(xml('subscriptions', { node: n.name }, ...n.subscriptions.map((s) => xml('subscription', { jid: s.jid, subscription: 'subscribed', subid: s.subid }))));
  }
  user.children.push(owner);
  return user;
}

export type { NodeConfigKey };
