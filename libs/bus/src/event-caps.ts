/**
 * Length caps of audit event fields. Most strings of an event come from outside (a client's IQ id, JIDs,
 * namespaces, a worker's reason text, a server's grant list): an event carries at most these many
 * characters of each, so a 200 KB IQ id reaches neither NATS nor Postgres whole. A cut string keeps its
 * first characters and ends with TRUNCATION_MARK (the mark counts towards the maximum); the event lists the
 * paths of the cut fields in `truncated`. Arrays are cut to AUDIT_MAX_ARRAY_ITEMS the same way (listed, no
 * mark). Pure.
 */

export const TRUNCATION_MARK = '…';

/** Characters kept per field name (any depth); other strings get AUDIT_DEFAULT_FIELD_CHARS. */
export const AUDIT_FIELD_MAX_CHARS: Readonly<Record<string, number>> = {
  // RFC 7622: local, domain and resource parts of at most 1023 bytes each
  from: 3071,
  to: 3071,
  iqId: 256,
  requestId: 128,
  namespace: 1024,
  reason: 1024,
  condition: 128,
  route: 256,
  subject: 512,
  worker: 256,
  kind: 64,
  error: 64,
  truncated: 128,
};
export const AUDIT_DEFAULT_FIELD_CHARS = 1024;
export const AUDIT_MAX_ARRAY_ITEMS = 256;
/** At most this many paths are listed in `truncated`. */
export const AUDIT_MAX_TRUNCATED_PATHS = 32;

/** `s` cut to `max` characters including the mark (never splitting a surrogate pair). */
export function truncateText(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = Math.max(0, max - TRUNCATION_MARK.length);
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.slice(0, end) + TRUNCATION_MARK;
}

function capValue(value: unknown, key: string, path: string, cut: string[]): unknown {
  if (typeof value === 'string') {
    const max = AUDIT_FIELD_MAX_CHARS[key] ?? AUDIT_DEFAULT_FIELD_CHARS;
    if (value.length <= max) return value;
    cut.push(path);
    return truncateText(value, max);
  }
  if (Array.isArray(value)) {
    const kept = value.length > AUDIT_MAX_ARRAY_ITEMS ? value.slice(0, AUDIT_MAX_ARRAY_ITEMS) : value;
    if (kept !== value) cut.push(path);
    let changed = kept !== value;
    const out = kept.map((v, i) => {
      const c = capValue(v, key, `${path}.${i}`, cut);
      if (c !== v) changed = true;
      return c;
    });
    return changed ? out : value;
  }
  if (value !== null && typeof value === 'object') {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const c = capValue(v, k, path ? `${path}.${k}` : k, cut);
      if (c !== v) changed = true;
      out[k] = c;
    }
    return changed ? out : value;
  }
  return value;
}

/**
 * The event with every outside-sourced string and array within its cap; the same object when nothing had
 * to be cut. Works on anything (the projector applies it to what it reads before validating).
 */
export function capAuditFields<T>(event: T): T {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return event;
  const cut: string[] = [];
  const out: Record<string, unknown> = {};
  let changed = false;
  for (const [k, v] of Object.entries(event as Record<string, unknown>)) {
    const c = capValue(v, k, k, cut);
    if (c !== v) changed = true;
    out[k] = c;
  }
  if (!changed) return event;
  const before = Array.isArray(out.truncated) ? (out.truncated as unknown[]).filter((p): p is string => typeof p === 'string') : [];
  out.truncated = [...new Set([...before, ...cut.filter((p) => !p.startsWith('truncated'))])].slice(0, AUDIT_MAX_TRUNCATED_PATHS);
  return out as T;
}
