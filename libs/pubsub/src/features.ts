/** Namespaces and service discovery data of the PEP service (XEP-0060 §10, XEP-0163 §1). */

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';
export const NS_DATA_FORMS = 'jabber:x:data';

/** XEP-0163 §1: an account that offers PEP shows this identity. */
export const PEP_IDENTITY = Object.freeze({ category: 'pubsub', type: 'pep' } as const);

/**
 * `http://jabber.org/protocol/pubsub#...` features implemented now (XEP-0060 §10 registry). Access models
 * `presence` and `roster` are not listed until rosters are consulted (their nodes are owner-only now).
 */
export const FEATURE_NAMES = Object.freeze([
  'access-open',
  'access-whitelist',
  'auto-create',
  'item-ids',
  'multi-items',
  'persistent-items',
  'publish',
  'publish-options',
  'retract-items',
  'retrieve-items',
] as const);

export const FEATURES: readonly string[] = Object.freeze(FEATURE_NAMES.map((f) => `${NS_PUBSUB}#${f}`));

/**
 * The same data in the shape the worker runtime answers disco-nesting queries with
 * (`WorkerFeatures` of `@dbroker/bus`). Frozen: typed mutable only to fit that shape.
 */
export const PEP_FEATURES = FEATURES as string[];
export const PEP_IDENTITIES = Object.freeze([{ ...PEP_IDENTITY }]) as Array<{ category: string; type: string }>;
