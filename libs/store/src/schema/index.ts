export { events, grants, auditLog, AUDIT_OUTCOMES } from './audit';
export type { EventRow, GrantRow, AuditRow, NewAuditRow, AuditOutcome } from './audit';
export { pubsubNodes, pubsubNodeEvents, pubsubItems, PUBSUB_EVENT_KINDS } from './pubsub';
export type { PubsubNodeRow, PubsubNodeEventRow, NewPubsubNodeEventRow, PubsubItemRow, PubsubEventKind } from './pubsub';
export { privileges } from './privileges';
export type { PrivilegeRow, NewPrivilegeRow } from './privileges';
