// The hostile corpus: what a malicious (or broken) local user can send through a real XMPP server to the
// broker, as data plus builders, so that the e2e suite, a bench or a CLI can replay it.
//
// Every stanza is built as raw text, not as an @xmpp/xml element: the textual tricks (prefixes, redeclared
// namespaces, entities, CDATA) must reach the server exactly as written, and serialising an 8,000-deep
// element with ltx would overflow the *test's* stack before anything is sent.
//
// Four kinds of shapes:
// - `iq`: one IQ (or a burst of `burst` IQs sent at once) on the hostile user's connection. `expect`
//   says what the product must answer: 'error' (an IQ error, optionally one of `conditions`), 'ok' (the
//   request is legitimate and must succeed; `followUp` then checks what was stored) or 'any' (exactly one
//   answer, result or error: the correct outcome is debatable, e.g. a flood under a rate limit).
// - `stream`: text the XMPP server itself must refuse (not well-formed, restricted XML, over its stanza
//   size limit, a forged stanza `from`): sent on a throw-away connection; a stream error / disconnect or an
//   IQ error is fine, a result never is.
// - `caps`: presence churn with XEP-0115 caps whose disco#info answer is huge, deep, wide or never comes:
//   no answer is expected; the broker must stay up, bounded, and keep serving everyone else.
import type { Element } from '@xmpp/xml';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DATA = 'jabber:x:data';

/** Who and what the corpus aims at; the runner fills it from the real server and accounts. */
export interface HostileContext {
  /** The XMPP server's domain, e.g. 'localhost'. */
  domain: string;
  /** The broker's component JID, e.g. 'pubsub.localhost'. */
  component: string;
  /** Bare JID of the attacker (the account sending the corpus). */
  hostile: string;
  /** Bare JID of a victim whose nodes the attacker tries to take over. */
  victim: string;
  /** Bare JID of the well-behaved user. */
  good: string;
  /** Victim's node with access model open and one item `VICTIM_ITEM`. */
  victimOpenNode: string;
  /** Victim's node with access model whitelist and one item `VICTIM_ITEM`. */
  victimPrivateNode: string;
  /** The attacker's node a contact of the attacker watches (+notify): smuggled stanzas show up there. */
  spoofNode: string;
  /**
   * The deepest nesting the XMPP server in front survives itself: Prosody 0.12 forwards 8,000 levels;
   * ejabberd 23.01 dies with a segmentation fault (the whole server) at about 3,500, so 2,000 there.
   */
  maxDepth: number;
}

/** See HostileContext.maxDepth. */
export const SERVER_MAX_DEPTH = { prosody: 8_000, ejabberd: 2_000 } as const;

export const VICTIM_ITEM = 'victim-item';
/** The payload text of VICTIM_ITEM on each victim node (`<p xmlns='urn:victim'>`). */
export const VICTIM_TEXT = { open: 'original open', private: 'original private' } as const;

export type Expect = 'error' | 'ok' | 'any';

export interface IqFollowUp {
  /** A request sent after the shape's own answer (raw text, with this id). */
  build(ctx: HostileContext, id: string): string;
  /** Given the follow-up's result: undefined when it shows the shape did what it must, else what is wrong. */
  check(answer: Element): string | undefined;
}

export interface IqShape {
  kind: 'iq';
  name: string;
  category: string;
  expect: Expect;
  /** With expect 'error': the answer's condition must be one of these (only where a spec names it). */
  conditions?: readonly string[];
  /** How many copies are sent at once (floods); default 1. */
  burst?: number;
  /** Wait this long first (e.g. for a per-user rate budget to refill after the floods). */
  pauseBeforeMs?: number;
  /** The id the runner gives a copy, from a unique base (default: the base itself). */
  id?: (base: string) => string;
  /** The raw `<iq/>`; `i` is the copy's index within a burst. Must use `id` as its id attribute. */
  build(ctx: HostileContext, id: string, i: number): string;
  /** For expect 'ok': a read that proves the request was stored as sent. */
  followUp?: IqFollowUp;
}

export interface StreamShape {
  kind: 'stream';
  name: string;
  category: string;
  /** The server may drop the offending part and pass the rest on as an ordinary request (then any answer will do). */
  mayPass?: boolean;
  /** Raw text written on a fresh, authenticated connection; an `<iq/>` with `id` where there is one. */
  build(ctx: HostileContext, id: string): string;
}

export interface CapsShape {
  kind: 'caps';
  name: string;
  category: string;
  /** Initial presences sent, each with a fresh caps `ver` and each but the last followed by an unavailable one (churn). */
  presences: number;
  /** Pause between presences, ms. */
  intervalMs: number;
  /** The raw answer to the broker's disco#info query, or null to stay silent (a client that never answers). */
  answer(q: { id: string; from: string; node: string | undefined }, ctx: HostileContext): string | null;
}

export type HostileShape = IqShape | StreamShape | CapsShape;

// ---------------------------------------------------------------------------------------------- builders

/** Escapes text for an attribute value or character data. */
export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

export function iqText(type: 'get' | 'set' | 'result', id: string, to: string | undefined, body: string, extra = ''): string {
  return `<iq type='${type}' id='${id}'${to === undefined ? '' : ` to='${esc(to)}'`}${extra}>${body}</iq>`;
}

export const pubsubText = (inner: string, ns = NS_PUBSUB): string => `<pubsub xmlns='${ns}'>${inner}</pubsub>`;

/** A publish of one item; `itemAttrs` raw (e.g. ` id='x'`), `payload` raw. */
export function publishText(node: string, itemAttrs: string, payload: string, extra = ''): string {
  return pubsubText(`<publish node='${esc(node)}'><item${itemAttrs}>${payload}</item></publish>${extra}`);
}

export function formText(formType: string, fields: Array<[string, string[]]>, type = 'submit'): string {
  const f = fields.map(([v, vals]) => `<field var='${esc(v)}'>${vals.map((x) => `<value>${esc(x)}</value>`).join('')}</field>`).join('');
  return `<x xmlns='${NS_DATA}' type='${type}'><field var='FORM_TYPE' type='hidden'><value>${esc(formType)}</value></field>${f}</x>`;
}

export const publishOptionsText = (fields: Array<[string, string[]]>): string =>
  `<publish-options>${formText('http://jabber.org/protocol/pubsub#publish-options', fields)}</publish-options>`;

export function mamText(queryid: string, node: string, form = '', rsm = ''): string {
  return `<query xmlns='${NS_MAM}' queryid='${esc(queryid)}' node='${esc(node)}'>${form}${rsm ? `<set xmlns='${NS_RSM}'>${rsm}</set>` : ''}</query>`;
}

export const nested = (depth: number, leaf = 'x', name = 'a'): string => `${`<${name}>`.repeat(depth)}${leaf}${`</${name}>`.repeat(depth)}`;
const payload = (ns: string, inner: string, attrs = ''): string => `<p xmlns='${ns}'${attrs}>${inner}</p>`;
const P = 'urn:hostile:payload';
const KB = 1024;

/** Reads `itemId` of `node` (owned by `owner`) back and compares the payload's text or one of its attributes. */
function readBack(owner: (ctx: HostileContext) => string | undefined, node: string, itemId: string, want: { text?: string; attr?: [string, string] }): IqFollowUp {
  return {
    build: (ctx, id) => iqText('get', id, owner(ctx), pubsubText(`<items node='${esc(node)}'><item id='${esc(itemId)}'/></items>`)),
    check: (answer) => {
      const p = answer.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').find((i) => i.attrs.id === itemId)?.getChildElements()[0];
      if (!p) return `item ${itemId} not read back: ${answer.toString().slice(0, 300)}`;
      if (want.text !== undefined && p.getText() !== want.text) return `text differs: got ${JSON.stringify(p.getText())}, sent ${JSON.stringify(want.text)}`;
      if (want.attr && p.attrs[want.attr[0]] !== want.attr[1]) return `attribute differs: got ${JSON.stringify(p.attrs[want.attr[0]])}, sent ${JSON.stringify(want.attr[1])}`;
      return undefined;
    },
  };
}

const UNUSUAL_TEXT = 'emoji 🏴‍☠️👩🏽‍💻 max \u{10FFFF} repl \uFFFD rtl \u202Eevil\u202C zwj a\u200Db bom \uFEFF combining e\u0301\u0301\u0301 cjk 漢字 ]]> end';
const MARKUP_AS_TEXT = "<message xmlns='jabber:client' to='bob@localhost'><body>not markup</body></message> & &amp;lt;";
// no tab or newline: Prosody itself re-serialises `&#9;` as a raw tab, which the next parser normalises to a space
const ATTR_TRICKS = `quote" apos' lt< amp& gt> end`;

// -------------------------------------------------------------------------------------------- the corpus

const own = (): undefined => undefined;
const node = (s: string) => `urn:hostile:${s}`;

export const HOSTILE_CORPUS: readonly HostileShape[] = [
  // ---- deep and wide trees
  { kind: 'iq', name: 'deep-as-the-server-allows', category: 'tree', expect: 'error', build: (c, id) => iqText('set', id, undefined, publishText(node('deep'), " id='d'", payload(P, nested(c.maxDepth)))) },
  { kind: 'iq', name: 'deep-1000', category: 'tree', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('deep'), " id='d'", payload(P, nested(1000)))) },
  { kind: 'iq', name: 'deep-prefixed-redeclared', category: 'tree', expect: 'error', build: (c, id) => { const d = Math.min(4000, c.maxDepth); return iqText('set', id, undefined, publishText(node('deep'), " id='d'", payload(P, Array.from({ length: d }, (_, i) => `<n${i % 7}:e xmlns:n${i % 7}='urn:d:${i}'>`).join('') + Array.from({ length: d }, (_, i) => `</n${(d - 1 - i) % 7}:e>`).join('')))); } },
  { kind: 'iq', name: 'deep-in-items-get', category: 'tree', expect: 'error', build: (c, id) => iqText('get', id, c.victim, pubsubText(`<items node='${c.victimOpenNode}'>${nested(Math.min(5000, c.maxDepth), '', 'item')}</items>`)) },
  { kind: 'iq', name: 'deep-in-mam-form', category: 'tree', expect: 'error', build: (c, id) => iqText('set', id, undefined, `<query xmlns='${NS_MAM}' queryid='q' node='${node('deep')}'><x xmlns='${NS_DATA}' type='submit'>${nested(Math.min(5000, c.maxDepth), '', 'field')}</x></query>`) },
  { kind: 'iq', name: 'wide-60k-elements', category: 'tree', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('wide'), " id='w'", payload(P, '<a/>'.repeat(60_000)))) },
  { kind: 'iq', name: 'item-5000-children-with-text', category: 'tree', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('wide'), " id='w2'", payload(P, Array.from({ length: 5000 }, (_, i) => `<c n='${i}'>text ${i}</c>`).join('')))) },
  { kind: 'iq', name: 'publish-1000-items', category: 'tree', expect: 'error', build: (_c, id) => iqText('set', id, undefined, pubsubText(`<publish node='${node('many')}'>${Array.from({ length: 1000 }, (_, i) => `<item id='m${i}'><p xmlns='${P}'>${i}</p></item>`).join('')}</publish>`)) },
  { kind: 'iq', name: 'items-get-5000-ids', category: 'tree', expect: 'any', build: (c, id) => iqText('get', id, c.victim, pubsubText(`<items node='${c.victimOpenNode}'>${Array.from({ length: 5000 }, (_, i) => `<item id='i${i}'/>`).join('')}</items>`)) },

  // ---- huge attributes and ids
  { kind: 'iq', name: 'attr-200KB', category: 'size', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('attr'), " id='a'", payload(P, '', ` big='${'A'.repeat(200 * KB)}'`))) },
  { kind: 'iq', name: 'attrs-5000-on-one-element', category: 'size', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('attr'), " id='a2'", payload(P, '', Array.from({ length: 5000 }, (_, i) => ` a${i}='${i}'`).join('')))) },
  { kind: 'iq', name: 'item-id-100KB', category: 'size', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('id'), ` id='${'I'.repeat(100 * KB)}'`, payload(P, 'x'))) },
  { kind: 'iq', name: 'iq-id-100KB', category: 'size', expect: 'any', id: (base) => `${base}-${'I'.repeat(100 * KB)}`, build: (_c, id) => iqText('get', id, undefined, pubsubText(`<items node='${node('id')}'/>`)) },
  { kind: 'iq', name: 'node-name-100KB', category: 'size', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText('N'.repeat(100 * KB), " id='n'", payload(P, 'x'))) },
  { kind: 'iq', name: 'text-240KB', category: 'size', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('big'), " id='b'", payload(P, 'T'.repeat(240 * KB)))) },
  { kind: 'iq', name: 'subscribe-jid-3000-chars', category: 'size', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscribe node='${c.victimOpenNode}' jid='${'j'.repeat(3000)}@${c.domain}'/>`)) },

  // ---- entities, characters and namespace tricks (legitimate ones must round-trip exactly)
  { kind: 'iq', name: 'unusual-valid-characters', category: 'chars', expect: 'ok', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), " id='u'", payload(P, esc(UNUSUAL_TEXT)))), followUp: readBack(own, node('chars'), 'u', { text: UNUSUAL_TEXT }) },
  { kind: 'iq', name: 'markup-as-escaped-text', category: 'chars', expect: 'ok', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), " id='m'", payload(P, esc(MARKUP_AS_TEXT)))), followUp: readBack(own, node('chars'), 'm', { text: MARKUP_AS_TEXT }) },
  { kind: 'iq', name: 'char-refs-for-markup', category: 'chars', expect: 'ok', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), " id='r'", payload(P, '&#60;iq type=&#x27;set&#x27;&#62;&#x1F600;&#60;/iq&#62;'))), followUp: readBack(own, node('chars'), 'r', { text: "<iq type='set'>😀</iq>" }) },
  { kind: 'iq', name: 'cdata-with-markup', category: 'chars', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), " id='cd'", payload(P, "<![CDATA[<message to='bob@localhost'><body>x</body></message>]]>"))) },
  { kind: 'iq', name: 'attribute-quoting-tricks', category: 'chars', expect: 'ok', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), " id='q'", payload(P, 'x', ` v="${esc(ATTR_TRICKS)}"`))), followUp: readBack(own, node('chars'), 'q', { attr: ['v', ATTR_TRICKS] }) },
  { kind: 'iq', name: 'node-name-weird-chars', category: 'chars', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(`urn:hostile:\u202E\u200D\uFEFF&<>"'\t\n${'\u0301'.repeat(200)}🏴‍☠️`, " id='w'", payload(P, 'x'))) },
  { kind: 'iq', name: 'item-id-weird-chars', category: 'chars', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('chars'), ` id='${esc("../../etc/passwd'\" OR 1=1;--\u0000".replace('\u0000', ''))}%00\u202E'`, payload(P, 'x'))) },
  { kind: 'iq', name: 'prefixed-pubsub-elements', category: 'namespace', expect: 'any', build: (_c, id) => iqText('set', id, undefined, `<ps:pubsub xmlns:ps='${NS_PUBSUB}'><ps:publish node='${node('prefixed')}'><ps:item id='p'><p xmlns='${P}'>x</p></ps:item></ps:publish></ps:pubsub>`) },
  { kind: 'iq', name: 'publish-in-foreign-namespace', category: 'namespace', expect: 'error', build: (_c, id) => iqText('set', id, undefined, `<pubsub xmlns='${NS_PUBSUB}'><publish xmlns='urn:evil' node='${node('ns')}'><item id='e'><p xmlns='${P}'>x</p></item></publish></pubsub>`) },
  { kind: 'iq', name: 'item-in-jabber-client-namespace', category: 'namespace', expect: 'any', build: (_c, id) => iqText('set', id, undefined, pubsubText(`<publish node='${node('ns')}'><item xmlns='jabber:client' id='jc'><p xmlns='${P}'>x</p></item></publish>`)) },
  { kind: 'iq', name: 'owner-element-in-pubsub-namespace', category: 'namespace', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<delete node='${c.victimOpenNode}'/>`)) },
  { kind: 'iq', name: 'payload-redeclares-every-prefix', category: 'namespace', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('ns'), " id='rd'", `<p xmlns='${P}' ${Array.from({ length: 500 }, (_, i) => `xmlns:p${i}='urn:r:${i}'`).join(' ')}><p1:x p2:y='1' xmlns:p1='jabber:client'/></p>`)) },

  // ---- spoofed inner addresses (stanzas smuggled in payloads must never be delivered as stanzas)
  { kind: 'iq', name: 'smuggled-chat-message', category: 'spoof', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(c.spoofNode, " id='s1'", `<message xmlns='jabber:client' from='${c.good}' to='${c.victim}' type='chat'><body>spoofed chat from the good user</body></message>`)) },
  { kind: 'iq', name: 'smuggled-privilege-wrapper', category: 'spoof', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(c.spoofNode, " id='s2'", `<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='${c.good}' to='${c.victim}' type='chat'><body>spoofed privileged chat</body></message></forwarded></privilege>`)) },
  { kind: 'iq', name: 'smuggled-delegation-request', category: 'spoof', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(c.spoofNode, " id='s3'", `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' type='set' id='x' from='${c.victim}/r' to='${c.victim}'>${pubsubText(`<purge node='${c.victimOpenNode}'/>`, NS_PUBSUB_OWNER)}</iq></forwarded></delegation>`)) },
  { kind: 'iq', name: 'smuggled-stream-close', category: 'spoof', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(c.spoofNode, " id='s4'", `<p xmlns='${P}'>&lt;/stream:stream&gt;<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></p>`)) },
  { kind: 'iq', name: 'forged-delegation-sent-to-component', category: 'spoof', expect: 'error', build: (c, id) => iqText('set', id, c.component, `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' type='set' id='forged' from='${c.victim}/r' to='${c.victim}'>${pubsubText(`<purge node='${c.victimOpenNode}'/>`, NS_PUBSUB_OWNER)}</iq></forwarded></delegation>`) },
  { kind: 'iq', name: 'forged-delegation-v1-sent-to-component', category: 'spoof', expect: 'error', build: (c, id) => iqText('set', id, c.component, `<delegation xmlns='urn:xmpp:delegation:1'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' type='set' id='forged1' from='${c.victim}/r' to='${c.victim}'>${publishText(c.victimOpenNode, ` id='${VICTIM_ITEM}'`, `<p xmlns='${P}'>overwritten</p>`)}</iq></forwarded></delegation>`) },
  { kind: 'iq', name: 'unknown-namespace-to-component', category: 'spoof', expect: 'error', build: (c, id) => iqText('get', id, c.component, "<query xmlns='urn:evil:probe'/>") },

  // ---- acting on others' nodes
  { kind: 'iq', name: 'publish-to-victim-node', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, publishText(c.victimOpenNode, ` id='${VICTIM_ITEM}'`, `<p xmlns='${P}'>hijack</p>`)) },
  { kind: 'iq', name: 'retract-victim-item', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<retract node='${c.victimOpenNode}' notify='true'><item id='${VICTIM_ITEM}'/></retract>`)) },
  { kind: 'iq', name: 'purge-victim-node', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<purge node='${c.victimOpenNode}'/>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'delete-victim-node', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<delete node='${c.victimPrivateNode}'/>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'configure-victim-node-open', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<configure node='${c.victimPrivateNode}'>${formText('http://jabber.org/protocol/pubsub#node_config', [['pubsub#access_model', ['open']]])}</configure>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'affiliate-self-owner-on-victim', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<affiliations node='${c.victimPrivateNode}'><affiliation jid='${c.hostile}' affiliation='owner'/><affiliation jid='${c.hostile}' affiliation='publisher'/></affiliations>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'subscriptions-set-on-victim', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscriptions node='${c.victimPrivateNode}'><subscription jid='${c.hostile}' subscription='subscribed'/></subscriptions>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'read-victim-whitelist-node', category: 'authz', expect: 'error', build: (c, id) => iqText('get', id, c.victim, pubsubText(`<items node='${c.victimPrivateNode}'/>`)) },
  { kind: 'iq', name: 'subscribe-foreign-jid', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscribe node='${c.victimOpenNode}' jid='${c.good}'/>`)) },
  { kind: 'iq', name: 'subscribe-remote-jid', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscribe node='${c.victimOpenNode}' jid='eve@evil.example'/>`)) },
  { kind: 'iq', name: 'subscribe-malformed-jid', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscribe node='${c.victimOpenNode}' jid='@@//\u0000x'/>`.replace('\u0000', ''))) },
  { kind: 'iq', name: 'mam-on-victim-whitelist-node', category: 'authz', expect: 'error', build: (c, id) => iqText('set', id, c.victim, mamText('qv', c.victimPrivateNode)) },
  { kind: 'iq', name: 'pubsub-to-nonexistent-user', category: 'authz', expect: 'error', build: (c, id) => iqText('get', id, `nobody-${'z'.repeat(20)}@${c.domain}`, pubsubText(`<items node='${node('x')}'/>`)) },

  // ---- protocol abuse on one's own account
  { kind: 'iq', name: 'iq-with-two-payloads', category: 'protocol', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('two'), " id='t'", `<p xmlns='${P}'/>`) + pubsubText(`<purge node='${node('two')}'/>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'empty-pubsub', category: 'protocol', expect: 'error', build: (_c, id) => iqText('set', id, undefined, pubsubText('')) },
  { kind: 'iq', name: 'publish-without-node', category: 'protocol', expect: 'error', build: (_c, id) => iqText('set', id, undefined, pubsubText(`<publish><item id='x'><p xmlns='${P}'/></item></publish>`)) },
  { kind: 'iq', name: 'publish-item-without-payload', category: 'protocol', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('empty'), " id='e'", '')) },
  { kind: 'iq', name: 'publish-item-two-payloads', category: 'protocol', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('two'), " id='e2'", `<p xmlns='${P}'/><q xmlns='${P}'/>`)) },
  { kind: 'iq', name: 'publish-options-max-items-huge', category: 'options', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('opt1'), " id='o'", `<p xmlns='${P}'/>`, publishOptionsText([['pubsub#max_items', ['99999999999999999999999999']]]))) },
  { kind: 'iq', name: 'publish-options-max-items-negative', category: 'options', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('opt2'), " id='o'", `<p xmlns='${P}'/>`, publishOptionsText([['pubsub#max_items', ['-1']]]))) },
  { kind: 'iq', name: 'publish-options-3000-fields', category: 'options', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('opt3'), " id='o'", `<p xmlns='${P}'/>`, publishOptionsText(Array.from({ length: 3000 }, (_, i) => [`pubsub#f${i}`, [String(i)]] as [string, string[]])))) },
  { kind: 'iq', name: 'publish-options-whitelist-of-3000', category: 'options', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(node('opt4'), " id='o'", `<p xmlns='${P}'/>`, publishOptionsText([['pubsub#access_model', ['roster']], ['pubsub#roster_groups_allowed', Array.from({ length: 3000 }, (_, i) => `group-${i}-${'g'.repeat(40)}@${c.domain}`)]]))) },
  { kind: 'iq', name: 'publish-options-wrong-form-type', category: 'options', expect: 'error', build: (_c, id) => iqText('set', id, undefined, publishText(node('opt5'), " id='o'", `<p xmlns='${P}'/>`, `<publish-options>${formText('urn:evil', [['pubsub#access_model', ['open']]])}</publish-options>`)) },
  { kind: 'iq', name: 'affiliations-3000-on-own-node', category: 'options', expect: 'any', build: (c, id) => iqText('set', id, undefined, pubsubText(`<affiliations node='${c.spoofNode}'>${Array.from({ length: 3000 }, (_, i) => `<affiliation jid='member${i}@${c.domain}' affiliation='member'/>`).join('')}</affiliations>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'items-max-items-garbage', category: 'protocol', expect: 'any', build: (c, id) => iqText('get', id, c.victim, pubsubText(`<items node='${c.victimOpenNode}' max_items='-7e308'/>`)) },

  // ---- MAM abuse
  { kind: 'iq', name: 'mam-rsm-max-negative', category: 'mam', expect: 'any', build: (c, id) => iqText('set', id, c.victim, mamText('q1', c.victimOpenNode, '', '<max>-1</max>')) },
  { kind: 'iq', name: 'mam-rsm-max-huge', category: 'mam', expect: 'any', build: (c, id) => iqText('set', id, c.victim, mamText('q2', c.victimOpenNode, '', '<max>999999999999999999999999</max>')) },
  { kind: 'iq', name: 'mam-rsm-after-100KB', category: 'mam', expect: 'error', build: (c, id) => iqText('set', id, c.victim, mamText('q3', c.victimOpenNode, '', `<after>${'A'.repeat(100 * KB)}</after>`)) },
  { kind: 'iq', name: 'mam-form-bad-dates', category: 'mam', expect: 'error', build: (c, id) => iqText('set', id, c.victim, mamText('q4', c.victimOpenNode, formText(NS_MAM, [['start', ['not-a-date']], ['end', ['9999999-99-99T99:99:99Z']]]))) },
  { kind: 'iq', name: 'mam-form-2000-fields', category: 'mam', expect: 'any', build: (c, id) => iqText('set', id, c.victim, mamText('q5', c.victimOpenNode, formText(NS_MAM, Array.from({ length: 2000 }, (_, i) => [`f${i}`, ['v'.repeat(50)]] as [string, string[]])))) },
  { kind: 'iq', name: 'mam-queryid-100KB', category: 'mam', expect: 'any', build: (c, id) => iqText('set', id, c.victim, mamText('Q'.repeat(100 * KB), c.victimOpenNode)) },
  { kind: 'iq', name: 'mam-with-malformed-jid', category: 'mam', expect: 'any', build: (c, id) => iqText('set', id, c.victim, mamText('q6', c.victimOpenNode, formText(NS_MAM, [['with', ['@@/x@@']]]))) },

  // ---- disco abuse
  { kind: 'iq', name: 'disco-info-node-100KB', category: 'disco', expect: 'any', build: (c, id) => iqText('get', id, c.victim, `<query xmlns='${NS_DISCO_INFO}' node='${'D'.repeat(100 * KB)}'/>`) },
  { kind: 'iq', name: 'disco-items-weird-node', category: 'disco', expect: 'any', build: (c, id) => iqText('get', id, c.victim, `<query xmlns='${NS_DISCO_ITEMS}' node='${esc("'\"<&\u202E")}'/>`) },
  { kind: 'iq', name: 'disco-info-delegation-node-to-component', category: 'disco', expect: 'any', build: (c, id) => iqText('get', id, c.component, `<query xmlns='${NS_DISCO_INFO}' node='urn:xmpp:delegation:2:bare:${'x'.repeat(10 * KB)}'/>`) },

  // ---- refused by the XMPP server itself (fresh connection each)
  { kind: 'stream', name: 'nul-char-reference', category: 'stream', build: (_c, id) => iqText('set', id, undefined, publishText(node('s'), " id='s'", payload(P, 'a&#0;b'))) },
  { kind: 'stream', name: 'raw-control-character', category: 'stream', build: (_c, id) => iqText('set', id, undefined, publishText(node('s'), " id='s'", payload(P, 'a\u0001b'))) },
  { kind: 'stream', name: 'entity-declaration-billion-laughs', category: 'stream', build: (_c, id) => `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>${iqText('set', id, undefined, publishText(node('s'), " id='s'", payload(P, '&lol2;')))}` },
  { kind: 'stream', name: 'undeclared-prefix', category: 'stream', build: (_c, id) => iqText('set', id, undefined, publishText(node('s'), " id='s'", '<evil:p/>')) },
  { kind: 'stream', name: 'processing-instruction', category: 'stream', mayPass: true, build: (_c, id) => `<?xml-stylesheet href='x'?>${iqText('set', id, undefined, publishText(node('s'), " id='s'", payload(P, 'x')))}` },
  { kind: 'stream', name: 'over-server-stanza-limit-300KB', category: 'stream', build: (_c, id) => iqText('set', id, undefined, publishText(node('s'), " id='s'", payload(P, 'O'.repeat(300 * KB)))) },
  { kind: 'stream', name: 'forged-stanza-from-victim', category: 'stream', build: (c, id) => iqText('set', id, c.victim, publishText(c.victimOpenNode, ` id='${VICTIM_ITEM}'`, `<p xmlns='${P}'>forged</p>`), ` from='${c.victim}/forged'`) },

  // ---- presence and caps churn
  { kind: 'caps', name: 'caps-churn-unverifiable', category: 'caps', presences: 60, intervalMs: 20, answer: (q) => capsAnswer(q, Array.from({ length: 20 }, (_, i) => `urn:churn:${i}`)) },
  { kind: 'caps', name: 'caps-answer-huge-200KB', category: 'caps', presences: 6, intervalMs: 200, answer: (q) => capsAnswer(q, Array.from({ length: 4000 }, (_, i) => `urn:huge:feature:${i}:${'f'.repeat(8)}+notify`)) },
  { kind: 'caps', name: 'caps-answer-deep', category: 'caps', presences: 4, intervalMs: 200, answer: (q, c) => capsAnswer(q, ['urn:deep'], `<x xmlns='${NS_DATA}' type='result'>${nested(c.maxDepth - 10, '', 'field')}</x>`) },
  { kind: 'caps', name: 'caps-answer-3000-identities-and-forms', category: 'caps', presences: 4, intervalMs: 200, answer: (q) => capsAnswer(q, ['urn:ids'], Array.from({ length: 3000 }, (_, i) => `<identity category='client' type='pc${i}' name='${'n'.repeat(10)}'/>`).join('') + Array.from({ length: 50 }, (_, i) => formText(`urn:form:${i}`, [['a', ['b']]], 'result')).join('')) },
  { kind: 'caps', name: 'caps-never-answered', category: 'caps', presences: 40, intervalMs: 25, answer: () => null },
  { kind: 'caps', name: 'caps-answer-wrong-shape', category: 'caps', presences: 10, intervalMs: 50, answer: (q) => `<iq type='result' id='${esc(q.id)}' to='${esc(q.from)}'><vCard xmlns='vcard-temp'>${nested(100)}</vCard></iq>` },
  // ---- floods and the fan-out bomb, last: what they leave behind must not hide the other shapes' outcomes
  { kind: 'iq', name: 'publish-flood-300', category: 'flood', expect: 'any', burst: 300, build: (_c, id, i) => iqText('set', id, undefined, publishText(node('flood'), ` id='f${i}'`, `<p xmlns='${P}'>${i}</p>`)) },
  { kind: 'iq', name: 'node-creation-flood-200', category: 'flood', expect: 'any', burst: 200, build: (_c, id, i) => iqText('set', id, undefined, publishText(node(`many-nodes-${i}`), " id='x'", `<p xmlns='${P}'>${i}</p>`)) },
  { kind: 'iq', name: 'subscribe-flood-200', category: 'flood', expect: 'any', burst: 200, build: (c, id) => iqText('set', id, c.victim, pubsubText(`<subscribe node='${c.victimOpenNode}' jid='${c.hostile}'/>`)) },
  { kind: 'iq', name: 'read-flood-300', category: 'flood', expect: 'any', burst: 300, build: (c, id) => iqText('get', id, c.victim, pubsubText(`<items node='${c.victimOpenNode}'/>`)) },
  { kind: 'iq', name: 'mam-flood-50', category: 'flood', expect: 'any', burst: 50, build: (c, id, i) => iqText('set', id, c.victim, mamText(`fq${i}`, c.victimOpenNode)) },
  { kind: 'iq', name: 'fan-out-node-created', category: 'fanout', expect: 'ok', pauseBeforeMs: 3_000, build: (_c, id) => iqText('set', id, undefined, publishText(node('bomb'), " id='first'", payload(P, 'x'), publishOptionsText([['pubsub#access_model', ['open']], ['pubsub#max_items', ['10']]]))) },
  // three batches of 1,000: the first fits a per-node cap of 1,000, so the bomb goes off at the allowed maximum
  { kind: 'iq', name: 'fan-out-subscribers-3x1000', category: 'fanout', expect: 'any', burst: 3, build: (c, id, b) => iqText('set', id, undefined, pubsubText(`<subscriptions node='${node('bomb')}'>${Array.from({ length: 1000 }, (_, i) => `<subscription jid='target${b * 1000 + i}@${c.domain}' subscription='subscribed'/>`).join('')}</subscriptions>`, NS_PUBSUB_OWNER)) },
  { kind: 'iq', name: 'fan-out-publish', category: 'fanout', expect: 'any', build: (_c, id) => iqText('set', id, undefined, publishText(node('bomb'), " id='boom'", payload(P, 'B'.repeat(100 * KB)))) },
  { kind: 'iq', name: 'fan-out-publish-to-contacts', category: 'fanout', expect: 'any', build: (c, id) => iqText('set', id, undefined, publishText(c.spoofNode, " id='contacts'", payload(P, 'C'.repeat(50 * KB)))) },

];

function capsAnswer(q: { id: string; from: string; node: string | undefined }, features: string[], extra = ''): string {
  const nodeAttr = q.node === undefined ? '' : ` node='${esc(q.node)}'`;
  return `<iq type='result' id='${esc(q.id)}' to='${esc(q.from)}'><query xmlns='${NS_DISCO_INFO}'${nodeAttr}><identity category='client' type='pc' name='hostile'/><feature var='${NS_DISCO_INFO}'/><feature var='${NS_CAPS}'/>${features.map((f) => `<feature var='${esc(f)}'/>`).join('')}${extra}</query></iq>`;
}

/** The caps `<c/>` of a churned presence: a random `ver`, so every presence looks like a new client. */
export const capsPresenceText = (ver: string, node = 'https://hostile.example/client'): string => `<presence><c xmlns='${NS_CAPS}' hash='sha-1' node='${esc(node)}' ver='${esc(ver)}'/></presence>`;
