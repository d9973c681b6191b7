/** Namespaces and service discovery data of the PEP service (XEP-0060 §10, XEP-0163 §1). */

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';
export const NS_DATA_FORMS = 'jabber:x:data';

/** XEP-0163 §1: an account that offers PEP shows this identity. */
export const PEP_IDENTITY = Object.freeze({ category: 'pubsub', type: 'pep' } as const);

export const NS_PUBSUB_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
export const NS_PUBSUB_META_DATA = 'http://jabber.org/protocol/pubsub#meta-data';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_SHIM = 'http://jabber.org/protocol/shim';
export const NS_DELAY = 'urn:xmpp:delay';

export interface PepFeatureRow {
  /** XEP-0060 §10 feature name (`http://jabber.org/protocol/pubsub#<name>`). */
  feature: string;
  supported: boolean;
  note: string;
}

/**
 * Every XEP-0060 §10 feature a PEP service may be asked about, whether this implementation has it, and
 * how. The advertised list (`FEATURE_NAMES`) is derived from it: disco says exactly what works.
 */
export const PEP_FEATURE_TABLE: ReadonlyArray<Readonly<PepFeatureRow>> = Object.freeze(
  (
    [
      ['access-open', true, 'anyone (but outcasts) reads'],
      ['access-presence', true, "roster items with subscription from/both read (injected RosterLookup); the XEP-0163 default"],
      ['access-roster', true, 'roster items in one of pubsub#roster_groups_allowed read'],
      ['access-whitelist', true, 'only member / publisher affiliates (and the owner) read'],
      ['access-authorize', false, 'no pending subscriptions: pubsub#access_model=authorize is precondition-not-met / not-acceptable'],
      ['auto-create', true, 'publish creates the node (XEP-0060 §7.1.4) with defaults plus publish-options'],
      ['auto-subscribe', true, 'contacts with +notify get notifications (XEP-0163 §4)'],
      ['config-node', true, 'pubsub#owner configure get/set/cancel; smaller max_items trims items'],
      ['config-node-max', true, "pubsub#max_items accepts 'max' (the service limit)"],
      ['create-and-configure', true, '<create/> with a <configure/> form'],
      ['create-nodes', true, 'named nodes only (no instant nodes)'],
      ['delete-items', true, 'retract by the owner and publisher affiliates'],
      ['delete-nodes', true, 'logged in the node history (kind delete), optional <redirect/>'],
      ['filtered-notifications', true, 'contacts get notifications only for nodes in their caps +notify'],
      ['get-pending', false, 'no pending subscriptions'],
      ['instant-nodes', false, 'PEP nodes are named by their namespace'],
      ['item-ids', true, 'items keep the publisher\'s id or get a generated one'],
      ['last-published', true, 'send_last_published_item on_sub (on subscribe) / on_sub_and_presence (also on initial presence), with <delay/>'],
      ['leased-subscription', false, ''],
      ['manage-subscriptions', true, 'pubsub#owner subscriptions get/set (subscribed / none)'],
      ['member-affiliation', true, ''],
      ['meta-data', true, 'disco#info on a node carries a pubsub#meta-data form'],
      ['modify-affiliations', true, 'pubsub#owner affiliations get/set (member, publisher, outcast, none)'],
      ['multi-collection', false, ''],
      ['multi-items', true, 'max_items above 1'],
      ['multi-subscribe', false, 'one subscription per JID and node'],
      ['outcast-affiliation', true, 'outcasts are refused every read and subscription; their subscriptions end'],
      ['persistent-items', true, ''],
      ['presence-notifications', true, 'last items on a contact\'s initial presence'],
      ['presence-subscribe', true, 'implicit subscription of contacts from roster + caps'],
      ['publish', true, ''],
      ['publish-options', true, 'create with the options when absent, precondition-not-met when they conflict'],
      ['publisher-affiliation', true, 'publisher affiliates publish and retract on existing nodes'],
      ['purge-nodes', true, 'logged in the node history (kind purge)'],
      ['retract-items', true, ''],
      ['retrieve-affiliations', true, ''],
      ['retrieve-default', true, 'pubsub#owner <default/>'],
      ['retrieve-default-sub', false, 'no subscription options'],
      ['retrieve-items', true, ''],
      ['retrieve-subscriptions', true, ''],
      ['subscribe', true, 'allowed when the requester may read the node'],
      ['subscription-options', false, ''],
      ['subscription-notifications', false, 'owner changes of subscriptions are not announced to the subscriber'],
    ] as ReadonlyArray<readonly [string, boolean, string]>
  ).map(([feature, supported, note]) => Object.freeze({ feature, supported, note })),
);


/** `http://jabber.org/protocol/pubsub#...` features implemented (the supported rows of the table). */
export const FEATURE_NAMES: readonly string[] = Object.freeze(PEP_FEATURE_TABLE.filter((r) => r.supported).map((r) => r.feature));

export const FEATURES: readonly string[] = Object.freeze(FEATURE_NAMES.map((f) => `${NS_PUBSUB}#${f}`));

/**
 * The same data in the shape the worker runtime answers disco-nesting queries with
 * (`WorkerFeatures` of `@dbroker/bus`). Frozen: typed mutable only to fit that shape.
 */
export const PEP_FEATURES = FEATURES as string[];
export const PEP_IDENTITIES = Object.freeze([{ ...PEP_IDENTITY }]) as Array<{ category: string; type: string }>;

/** The feature table as Markdown, for the README (kept equal to it by a test; `npm run docs:features` writes it). */
export function featureTableMarkdown(): string {
  const rows = PEP_FEATURE_TABLE.map((r) => `| \`${r.feature}\` | ${r.supported ? 'yes' : 'no'} | ${r.note.replace(/\|/g, '\\|') || ''} |`);
  return ['| feature (`http://jabber.org/protocol/pubsub#…`) | supported (advertised in disco) | how |', '|---|---|---|', ...rows].join('\n');
}
