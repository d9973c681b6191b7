import type { StanzaErrorCondition } from './stanza-error';

export type Failure = { ok: false; reason: string; condition: StanzaErrorCondition };
/**
 * Outcome of validating a stanza. A failure carries a human-readable `reason` (for logs and audit)
 * and the stanza error condition to answer with.
 */
export type Result<T> = { ok: true; value: T } | Failure;

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail(reason: string, condition: StanzaErrorCondition = 'bad-request'): Failure {
  return { ok: false, reason, condition };
}
