// Public surface of @dbroker/mam: MAM on pubsub nodes (XEP-0313, XEP-0442), pure; I/O is injected.
export { createMamIqHandler } from './archive';
export type { MamArchiveDeps, MamIqContext, MamIqHandler, MamLogger, MamPageSize } from './archive';
export { archiveIdOf, seqOfArchiveId } from './archive-id';
export { parseDateTime, formatDateTime } from './datetime';
export type { FractionRounding } from './datetime';
export { MAM_ERROR_TABLE, MamRefusal, MamDeliveryError, mamStanzaError } from './errors';
export type { MamErrorName, MamDeliveryFailure } from './errors';
export { parseQueryForm, buildQueryForm, MAX_QUERY_IDS } from './form';
export type { MamFilter } from './form';
export {
  NS_MAM_2,
  NS_MAM_1,
  NS_RSM,
  NS_FORWARD,
  NS_DELAY,
  MAM_NAMESPACES,
  MAM_2_FEATURES,
  MAM_1_FEATURES,
  isMamNamespace,
  mamFeatures,
} from './namespaces';
export type { MamNamespace } from './namespaces';
export { parseMamRequest, MAX_QUERY_ID_LENGTH } from './request';
export type { MamRequest } from './request';
export { buildEvent, buildResultMessage, buildFin, buildMetadata } from './results';
export type { ArchiveEntry, ResultMessageOptions, FinOptions } from './results';
export { parseRsmSet, buildRsmSet } from './rsm';
export type { RsmRequest, RsmAnswer } from './rsm';
