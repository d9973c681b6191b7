import { AuditEventSchema, capAuditFields, type AuditEvent } from '@dbroker/bus';

export type DecodedEvent = { ok: true; event: AuditEvent } | { ok: false; reason: string };

const decoder = new TextDecoder();

/** Parses one stream message body as an audit event. Pure. */
export function decodeAuditEvent(data: Uint8Array): DecodedEvent {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  // the caps the ingress applies at emit, again: an over-long field never reaches Postgres whole
  const parsed = AuditEventSchema.safeParse(capAuditFields(json));
  if (!parsed.success) {
    return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  }
  return { ok: true, event: parsed.data };
}

export type DecodedMessage = { ok: true; events: AuditEvent[]; invalid: string[] } | { ok: false; reason: string };

/**
 * Parses one stream message: a single audit event, or `{ "batch": [event, …] }` as the ingress packs the
 * events that were queued together. Invalid members of a batch are reported, the valid ones kept. Pure.
 */
export function decodeAuditMessage(data: Uint8Array): DecodedMessage {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (json !== null && typeof json === 'object' && Array.isArray((json as { batch?: unknown }).batch)) {
    const events: AuditEvent[] = [];
    const invalid: string[] = [];
    for (const member of (json as { batch: unknown[] }).batch) {
      const parsed = AuditEventSchema.safeParse(capAuditFields(member));
      if (parsed.success) events.push(parsed.data);
      else invalid.push(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    }
    if (events.length === 0) return { ok: false, reason: `batch without a valid event${invalid.length ? `: ${invalid[0]}` : ''}` };
    return { ok: true, events, invalid };
  }
  const one = decodeAuditEvent(data);
  return one.ok ? { ok: true, events: [one.event], invalid: [] } : one;
}
