import { accessSync, constants } from 'node:fs';
import { z } from 'zod';

/**
 * How a service authenticates to NATS and checks its TLS certificate: the variables NATS users know from
 * the `nats` CLI and the server's own docs. At most one way of authenticating; a secret is given either
 * inline or as a `*_FILE` path (a mounted Kubernetes secret), never both. `user:pass@` (or `token@`) in
 * NATS_URL counts as a way of authenticating too.
 */
const filePath = z.string().min(1);
export const natsEnv = {
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_PASSWORD_FILE: filePath.optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_TOKEN_FILE: filePath.optional(),
  /** A user NKey seed (starts with SU). */
  NATS_NKEY_SEED: z.string().regex(/^SU[A-Z2-7]+$/, 'must be a user NKey seed (SU...)').optional(),
  NATS_NKEY_SEED_FILE: filePath.optional(),
  /** A `.creds` file (user JWT and NKey seed, from `nsc`). */
  NATS_CREDS_FILE: filePath.optional(),
  /** CA bundle the server's certificate is checked against (PEM). Any NATS_TLS_* (or a tls:// URL) requires TLS. */
  NATS_TLS_CA_FILE: filePath.optional(),
  /** Client certificate and its key (PEM), for servers that verify clients. */
  NATS_TLS_CERT_FILE: filePath.optional(),
  NATS_TLS_KEY_FILE: filePath.optional(),
};

export type NatsSettings = { NATS_URL: string } & { [K in keyof typeof natsEnv]?: string | undefined };

/** Credentials written in a server URL (`nats://user:pass@host` or `nats://token@host`), decoded. */
export function credentialsInUrl(url: string): { user: string; pass?: string } | undefined {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (!u.username && !u.password) return undefined;
  const user = decodeURIComponent(u.username);
  return u.password ? { user, pass: decodeURIComponent(u.password) } : { user };
}

/** A NATS_URL (comma-separated) with credentials replaced by `***`, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^@/\s,]*@/gi, '$1***@');
}

/** What is wrong with a combination of NATS settings, by variable name only (never a value). */
export function natsSettingsIssues(c: NatsSettings): string[] {
  const issues: string[] = [];
  for (const name of ['NATS_PASSWORD', 'NATS_TOKEN', 'NATS_NKEY_SEED'] as const) {
    if (c[name] !== undefined && c[`${name}_FILE`] !== undefined) issues.push(`${name} and ${name}_FILE: set only one of them`);
  }
  const servers = c.NATS_URL.split(',');
  const inUrl = servers.map(credentialsInUrl);
  const hasPassword = c.NATS_PASSWORD !== undefined || c.NATS_PASSWORD_FILE !== undefined;
  if (c.NATS_USER !== undefined && !hasPassword) issues.push('NATS_USER: needs NATS_PASSWORD or NATS_PASSWORD_FILE');
  if (hasPassword && c.NATS_USER === undefined) issues.push('NATS_PASSWORD: needs NATS_USER');
  const ways = [
    c.NATS_USER !== undefined || hasPassword ? 'NATS_USER/NATS_PASSWORD' : undefined,
    c.NATS_TOKEN !== undefined || c.NATS_TOKEN_FILE !== undefined ? 'NATS_TOKEN' : undefined,
    c.NATS_NKEY_SEED !== undefined || c.NATS_NKEY_SEED_FILE !== undefined ? 'NATS_NKEY_SEED' : undefined,
    c.NATS_CREDS_FILE !== undefined ? 'NATS_CREDS_FILE' : undefined,
    inUrl.some(Boolean) ? 'credentials in NATS_URL' : undefined,
  ].filter((w): w is string => w !== undefined);
  if (ways.length > 1) issues.push(`NATS authentication: ${ways.join(', ')} are all set; use exactly one`);
  const distinct = new Set(inUrl.map((c) => JSON.stringify(c ?? null)));
  if (inUrl.some(Boolean) && distinct.size > 1) issues.push('NATS_URL: every server of the list must carry the same credentials (or better: none, and NATS_USER/NATS_PASSWORD)');
  if ((c.NATS_TLS_CERT_FILE === undefined) !== (c.NATS_TLS_KEY_FILE === undefined)) issues.push('NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE: set both or neither');
  // A file that cannot be read fails here, by name, rather than at the first connect.
  for (const name of ['NATS_PASSWORD_FILE', 'NATS_TOKEN_FILE', 'NATS_NKEY_SEED_FILE', 'NATS_CREDS_FILE', 'NATS_TLS_CA_FILE', 'NATS_TLS_CERT_FILE', 'NATS_TLS_KEY_FILE'] as const) {
    const path = c[name];
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      issues.push(`${name}: cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return issues;
}
