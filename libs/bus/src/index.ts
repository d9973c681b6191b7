export { AuditEventSchema, GrantSchema, PrivilegePermissionsSchema, DEFAULT_EVENTS_STREAM, DEFAULT_EVENTS_PREFIX, eventSubject } from './events';
export type { AuditEvent, AuditEventType, AuditEventInput, Grant, PrivilegePermissions } from './events';
export { ensureEventsStream, streamLimitsConfig, DEFAULT_EVENTS_STREAM_LIMITS } from './events-stream';
export type { EventsStreamLimits, EnsureStreamOutcome } from './events-stream';
export { createEventPublisher, DEFAULT_AUDIT_BUFFER_EVENTS, DEFAULT_AUDIT_BUFFER_BYTES } from './event-publisher';
export { capAuditFields, truncateText, TRUNCATION_MARK, AUDIT_FIELD_MAX_CHARS, AUDIT_DEFAULT_FIELD_CHARS, AUDIT_MAX_ARRAY_ITEMS } from './event-caps';
export type { EventPublisher, EventPublisherOptions } from './event-publisher';
export {
  RequestEnvelopeSchema,
  ReplyEnvelopeSchema,
  OutboundEnvelopeSchema,
  OutboundAckSchema,
  OUTBOUND_ERRORS,
  encodeEnvelope,
  decodeRequest,
  decodeReply,
  decodeOutbound,
  decodeOutboundAck,
} from './envelope';
export type { RequestEnvelope, ReplyEnvelope, OutboundEnvelope, OutboundAck, OutboundError, Decoded } from './envelope';
export { sendPrivilegedMessage } from './outbound';
export { requestIq } from './iq-request';
export { DEFAULT_SUBJECT_PREFIX, DEFAULT_ROUTE_ALIASES, encodeToken, decodeToken, routeForNamespace, requestSubject, requestSubjectAnyDomain, featuresSubject, outboundSubject, presenceSubject, presenceSubjectAnyDomain, iqSubject } from './subjects';
export { injectTraceContext, extractTraceContext } from './trace-context';
export { connectBus, busConnectOptions, inboxPrefixOf, type BusAuthSettings } from './connection';
export type { Bus, ConnectBusOptions } from './connection';
export { startWorker } from './worker';
export { createBoundedRunner } from './bounded-runner';
export type { BoundedRunner, BoundedRunnerOptions } from './bounded-runner';
export { withDeadline, withoutDeadline, currentDeadline, DeadlineExceededError, isDeadlineExceeded } from './deadline';
export type { WorkerOptions, WorkerHandle, WorkerHandler, WorkerFeatures } from './worker';
export { requestFeatures } from './features';
export type { BusLogger } from './logger';
export {
  CapsSchema,
  PresenceEnvelopeSchema,
  IqRequestEnvelopeSchema,
  IqResponseEnvelopeSchema,
  IQ_REQUEST_ERRORS,
  encodeStateEnvelope,
  decodePresence,
  decodeIqRequest,
  decodeIqResponse,
} from './state-envelopes';
export type { Caps, PresenceEnvelope, IqRequestEnvelope, IqResponseEnvelope, IqRequestError } from './state-envelopes';
export { createRequester, requesterFor } from './requester';
export type { Requester, RequestOutcome } from './requester';
