// Public surface of @dbroker/user-state: what the PEP workers know about users, shared in Postgres.

export { DISCO_INFO_NS, SUPPORTED_CAPS_HASHES, capsVer, checkCaps, octetCompare, readDiscoInfo, verificationString, verifyCaps } from './caps-hash';
export type { CapsCheck, DiscoIdentity, DiscoInfoContent, VerificationString } from './caps-hash';
export type { SendIq, UserStateLogger } from './types';
export { askIq } from './send-iq';
export type { IqOutcome } from './send-iq';
export { SingleFlight } from './single-flight';
export type { Flight } from './single-flight';
export { ROSTER_NS, createRosterCache, parseRosterResult } from './roster';
export type { RosterCache, RosterCacheOptions, RosterParse } from './roster';
export { createPresenceStore } from './presence';
export type { OnlineResource, PresenceOutcome, PresenceStore, PresenceStoreOptions } from './presence';
export { DEFAULT_CAPS_FAILURE_TTL_MS, DEFAULT_CAPS_MEMORY_ENTRIES, createCapsResolver } from './caps';
export type { CapsResolver, CapsResolverOptions } from './caps';
export { NOTIFY_SUFFIX, buildAudience, notifyNodesOf } from './notify-audience';
export type { Audience, AudienceContact, BuildAudienceInput } from './notify-audience';
export { sendIqOverNats, rosterEntries, rosterLookup } from './over-nats';
export type { RosterEntry } from './over-nats';
export { sweepUserState } from './sweep';
export type { UserStateSweepOptions, UserStateSweepResult } from './sweep';
