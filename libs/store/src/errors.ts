/**
 * Postgres errors as the projector needs to see them: is retrying worth it? SQLSTATE classes
 * (https://www.postgresql.org/docs/15/errcodes-appendix.html) 22 (data exception), 23 (integrity
 * constraint violation) and 54 (program limit exceeded) fail again for the same input; everything else
 * (connection loss, shutdown, serialization failure, a table missing while migrations are pending, no
 * SQLSTATE at all) may pass on a later attempt.
 */
const PERMANENT_CLASSES = new Set(['22', '23', '54']);

/** The SQLSTATE of an error or of one of its causes (drizzle wraps driver errors). */
export function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when the same statement with the same data will fail again: retrying cannot help. */
export function isPermanentDbError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && PERMANENT_CLASSES.has(state.slice(0, 2));
}
