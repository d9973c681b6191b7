// Public surface of @dbroker/protocol: pure XMPP codecs, no I/O.

export { ProtocolError } from './errors';
export type { ProtocolErrorCode } from './errors';

export { fail, ok } from './result';
export type { Failure, Result } from './result';

export { DEFAULT_MAX_XML_BYTES, DEFAULT_MAX_XML_DEPTH, byteLength, parseXml, stripWhitespace } from './xml-parse';
export type { ParseXmlOptions, StripWhitespaceOptions } from './xml-parse';
export { DEFAULT_XML_LIMITS, MAX_XML_NAME_CHARS, STORED_XML_LIMITS, XML_LIMIT_CODES, isXmlLimitCode, resolveXmlLimits, utf8Length } from './xml-limits';
export type { XmlLimitCode, XmlLimits } from './xml-limits';
export { BoundedStreamParser } from './stream-parser';
export type { RejectedStanza, StreamParserEvents } from './stream-parser';
export { rejectionError, replyToRejected } from './rejected-stanza';
export { parseRequestStanza } from './request-stanza';
export type { ParsedRequestStanza, RequestAddress } from './request-stanza';
export type { RejectedStanzaReply } from './rejected-stanza';
export { cloneElement, inheritedPrefixDeclarations, usedPrefixes } from './xml-util';

export { accountJid, bareJid, isBareJid, isDomainJid, isFullJid, jidToString, normalizeJid, parseJid, sameBareJid } from './jid';
export type { Jid } from './jid';

export {
  DEFAULT_ERROR_TYPE,
  STANZA_ERROR_CONDITIONS,
  STANZA_ERROR_NS,
  StanzaError,
  buildErrorElement,
  isStanzaErrorCondition,
  isStanzaErrorType,
  parseErrorElement,
  stanzaErrorFromFailure,
} from './stanza-error';
export type { ParsedStanzaError, StanzaErrorCondition, StanzaErrorOptions, StanzaErrorType } from './stanza-error';

export {
  CLIENT_NS,
  DELEGATION_NS_1,
  DELEGATION_NS_2,
  FORWARD_NS,
  buildErrorReplyWrapper,
  buildInnerReply,
  checkWorkerReply,
  delegationVersionOf,
  isDelegationVersion,
  parseForwardedIq,
  parseGrantAdvertisement,
  parseOuterIdentity,
  salvageInner,
  wrapBrokenRequestError,
  wrapReply,
} from './delegation';
export type {
  DelegationContext,
  DelegationGrant,
  DelegationGrantKind,
  DelegationVersion,
  ForwardedRequest,
  GrantAdvertisement,
  OuterRequestIdentity,
  ParseForwardedIqContext,
  SalvagedInner,
} from './delegation';

export {
  IQ_PERMISSIONS,
  MESSAGE_PERMISSIONS,
  NO_PRIVILEGES,
  PRESENCE_PERMISSIONS,
  PRIVILEGE_NS_1,
  PRIVILEGE_NS_2,
  ROSTER_PERMISSIONS,
  buildPrivilegedMessage,
  checkPrivilegedOutbound,
  isPrivilegeVersion,
  parsePrivilegeAdvertisement,
  privilegeVersionOf,
} from './privilege';
export type {
  IqNamespacePermission,
  IqPermission,
  MessagePermission,
  PresencePermission,
  PrivilegeAdvertisement,
  PrivilegeContext,
  PrivilegedMessageAddressing,
  PrivilegedOutboundContext,
  PrivilegePermissions,
  PrivilegeVersion,
  RosterPermission,
} from './privilege';

export {
  DISCO_INFO_NS,
  DISCO_ITEMS_NS,
  buildDiscoInfoResult,
  discoNestingNode,
  isDiscoInfoQuery,
  parseDiscoNestingNode,
} from './disco-nesting';
export type { DiscoIdentity, DiscoInfo, DiscoNestingNode } from './disco-nesting';

export { buildIqError, buildIqResult, firstChildElement, iqReplyAttrs, iqType, isIq, isIqRequest } from './iq';
export type { IqType } from './iq';

export { CAPS_LIMITS, CAPS_NS, DELAY_NS, LEGACY_DELAY_NS, parseForwardedPresence, readCaps } from './presence';
export type { ForwardedPresence, PresenceCaps, PresenceContext, PresenceDropKind, PresenceParse } from './presence';

export { ROSTER_NS, buildUserIq, checkUserIqTarget, iqResponseFromMatches, isIqResponse } from './user-iq';
export type { UserIqContext, UserIqKind, UserIqRequest } from './user-iq';
