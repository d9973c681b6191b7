export { events, grants, auditLog, AUDIT_OUTCOMES } from './audit';
export type { EventRow, GrantRow, AuditRow, NewAuditRow, AuditOutcome } from './audit';
