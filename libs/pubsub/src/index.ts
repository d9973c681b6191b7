export { createPubsubEngine, PUBSUB_ERRORS, DEFAULT_MAX_PAYLOAD_BYTES, MAX_NODE_NAME_BYTES, MAX_ITEM_ID_BYTES, MAX_ITEMS_PER_REQUEST } from './engine';
export type {
  PubsubEngine,
  PubsubEngineOptions,
  PubsubErrorName,
  PubsubError,
  PubsubResult,
  PubsubEffect,
  PubsubItem,
  PublishOutcome,
  RetractOutcome,
  ItemsOutcome,
  PublishOptions,
  RetractOptions,
  GetItemsOptions,
  SubscriptionInfo,
  WriteOptions,
  LoggedWriteOptions,
  DeleteNodeOptions,
  NodeOutcome,
  ConfigureOutcome,
  LoggedOutcome,
  SubscribeOutcome,
  AffiliationEntry,
  NodeAffiliation,
  SubscriptionChange,
  ItemsPageInfo,
} from './engine';
export { createLimitChecks, DEFAULT_PUBSUB_LIMITS, LIMIT_NAMES } from './limits';
export type { LimitChecks, LimitHit, LimitName, OnLimit, PubsubLimits } from './limits';
export { NS_RSM, buildRsmPageSet, parseRsmPageRequest } from './rsm';
export type { RsmPageRequest } from './rsm';
export {
  DEFAULT_NODE_CONFIG,
  DEFAULT_MAX_ITEMS_PER_NODE,
  ACCESS_MODELS,
  CONFIG_FIELD_NAMES,
  configFromFields,
  configToFields,
  buildConfig,
  normaliseConfig,
  effectiveMaxItems,
  unmetPrecondition,
} from './config';
export type { NodeConfig, NodeConfigKey, AccessModel, SendLastPublishedItem, PublishModel } from './config';
export {
  ownerOnlyAccessPolicy,
  createRosterAccessPolicy,
  createMemoryRosterLookup,
  emptyRosterLookup,
  decideAccess,
  AFFILIATIONS,
  SETTABLE_AFFILIATIONS,
} from './access';
export type {
  AccessPolicy,
  AccessFacts,
  AccessVerdict,
  Affiliation,
  AffiliationLookup,
  SettableAffiliation,
  RosterItem,
  RosterLookup,
  RosterSubscription,
  MemoryRosterLookup,
} from './access';
export { DuplicateRequestError, NODE_EVENT_KINDS } from './storage';
export type {
  PubsubStorage,
  PubsubReader,
  PubsubTransaction,
  StoredNode,
  StoredNodeEvent,
  NewNodeEvent,
  NewPublishedItem,
  NodeWithItems,
  StoredItem,
  RecordedRequest,
  ListItemsQuery,
  NodeEventKind,
  StoredSubscription,
  ServiceSubscription,
  StoredAffiliation,
  NodeMembers,
  OwnerUsage,
  ItemsPageQuery,
  NodeItemsPage,
} from './storage';
export { createMemoryPubsubStorage } from './memory-storage';
export type { MemoryPubsubStorage } from './memory-storage';
export { createPgPubsubStorage } from './pg-storage';
export {
  handlePubsubIq,
  handlePepDiscoInfo,
  handlePepDiscoItems,
  handlePepDiscoIq,
  nodeConfigForm,
  pubsubErrorElement,
  pubsubStanzaError,
  PUBSUB_ERROR_TABLE,
  BARE_JID_IDENTITIES,
} from './translator';
export type { PubsubIqContext, PepDiscoContext, PubsubProtocolErrorName, StanzaErrorSpec, TranslatorLogger } from './translator';
export { planNotifications, announcesToAudience, audienceRecipients, lastItemMessage, lastItemTargets, planLastItemMessages } from './notify';
export type { AudienceContact, NotificationAudience, OutgoingMessage, PlanOptions, LastItemNode, LastItemTargetsInput } from './notify';
export {
  FEATURES,
  FEATURE_NAMES,
  PEP_FEATURES,
  PEP_IDENTITY,
  PEP_IDENTITIES,
  PEP_FEATURE_TABLE,
  NS_PUBSUB,
  NS_PUBSUB_NODE_CONFIG,
  NS_PUBSUB_META_DATA,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  NS_PUBSUB_ERRORS,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
  NS_PUBSUB_PUBLISH_OPTIONS,
} from './features';
export { serializeStandalone } from './xml';

export { decideNodeRead, READ_DENIALS } from './node-access';
export type { NodeReadDecision, ReadDenial, ReadableNode } from './node-access';
export type { PepFeatureRow } from './features';
export { featureTableMarkdown } from './features';
export { createMemoryNodeLog, publisherMatches, MAX_NODE_LOG_PAGE } from './node-log';
export type { NodeLogReader, NodeLogFilter, NodeLogPageQuery, NodeLogEntry, NodeLogPage, NodeLogCount } from './node-log';
export { createPgNodeLog, WINDOW_PATH_MAX } from './pg-node-log';
export type { PgNodeLogOptions } from './pg-node-log';
export { createNodeHistorySweeper, deleteOldNodeEvents, deleteNodeEventsOverCap, deleteOldTombstones } from './node-history-retention';
export type { NodeHistoryRetentionOptions, NodeHistorySweepResult } from './node-history-retention';
