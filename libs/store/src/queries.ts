import { and, asc, desc, eq, like, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from './db';
import { auditLog, grants, privileges, type AuditRow, type GrantRow, type PrivilegeRow } from './schema';

export const MAX_AUDIT_LIMIT = 1000;

export async function getAuditRow(db: Executor, requestId: string): Promise<AuditRow | undefined> {
  const rows = await db.select().from(auditLog).where(eq(auditLog.requestId, requestId)).limit(1);
  return rows[0];
}

export interface ListAuditOptions {
  /** Rows to return, 1..1000. */
  limit: number;
  /** A full JID matches exactly; a bare JID matches it and all its resources. */
  requester?: string | undefined;
  namespace?: string | undefined;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Most recent requests first. */
export async function listAudit(db: Executor, opts: ListAuditOptions): Promise<AuditRow[]> {
  const limit = Math.max(1, Math.min(MAX_AUDIT_LIMIT, Math.trunc(opts.limit)));
  const filters: SQL[] = [];
  if (opts.requester) {
    filters.push(
      opts.requester.includes('/')
        ? eq(auditLog.requester, opts.requester)
        : or(eq(auditLog.requester, opts.requester), like(auditLog.requester, `${escapeLike(opts.requester)}/%`))!,
    );
  }
  if (opts.namespace) filters.push(eq(auditLog.namespace, opts.namespace));
  return await db
    .select()
    .from(auditLog)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(sql`${auditLog.receivedAt} desc nulls last`, desc(auditLog.answeredAt), asc(auditLog.requestId))
    .limit(limit);
}

export interface ListGrantsOptions {
  server?: string | undefined;
  component?: string | undefined;
}

export async function listGrants(db: Executor, opts: ListGrantsOptions = {}): Promise<GrantRow[]> {
  const filters: SQL[] = [];
  if (opts.server) filters.push(eq(grants.server, opts.server));
  if (opts.component) filters.push(eq(grants.component, opts.component));
  return await db
    .select()
    .from(grants)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(asc(grants.server), asc(grants.component), asc(grants.namespace));
}

export interface ListPrivilegesOptions {
  server?: string | undefined;
  component?: string | undefined;
}

export async function listPrivileges(db: Executor, opts: ListPrivilegesOptions = {}): Promise<PrivilegeRow[]> {
  const filters: SQL[] = [];
  if (opts.server) filters.push(eq(privileges.server, opts.server));
  if (opts.component) filters.push(eq(privileges.component, opts.component));
  return await db
    .select()
    .from(privileges)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(asc(privileges.server), asc(privileges.component));
}
