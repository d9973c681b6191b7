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
} from './engine';
export {
  DEFAULT_NODE_CONFIG,
  DEFAULT_MAX_ITEMS_PER_NODE,
  ACCESS_MODELS,
  CONFIG_FIELD_NAMES,
  configFromFields,
  normaliseConfig,
  effectiveMaxItems,
} from './config';
export type { NodeConfig, NodeConfigKey, AccessModel, SendLastPublishedItem, PublishModel } from './config';
export { ownerOnlyAccessPolicy } from './access';
export type { AccessPolicy } from './access';
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
} from './storage';
export { createMemoryPubsubStorage } from './memory-storage';
export type { MemoryPubsubStorage } from './memory-storage';
export { createPgPubsubStorage } from './pg-storage';
export { handlePubsubIq, pubsubErrorElement, pubsubStanzaError, PUBSUB_ERROR_TABLE } from './translator';
export type { PubsubIqContext, PubsubProtocolErrorName, StanzaErrorSpec, TranslatorLogger } from './translator';
export {
  FEATURES,
  FEATURE_NAMES,
  PEP_FEATURES,
  PEP_IDENTITY,
  PEP_IDENTITIES,
  NS_PUBSUB,
  NS_PUBSUB_ERRORS,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
  NS_PUBSUB_PUBLISH_OPTIONS,
} from './features';
export { serializeStandalone } from './xml';
export { bareJid } from './jid';
export { decideNodeRead, READ_DENIALS } from './node-access';
export type { NodeReadDecision, ReadDenial, ReadableNode } from './node-access';
export { createMemoryNodeLog, publisherMatches, MAX_NODE_LOG_PAGE } from './node-log';
export type { NodeLogReader, NodeLogFilter, NodeLogPageQuery, NodeLogEntry, NodeLogPage, NodeLogCount } from './node-log';
export { createPgNodeLog, WINDOW_PATH_MAX } from './pg-node-log';
export type { PgNodeLogOptions } from './pg-node-log';
