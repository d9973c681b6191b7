import { AuditEventSchema, type AuditEvent } from '@dbroker/bus';

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
  const parsed = AuditEventSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  }
  return { ok: true, event: parsed.data };
}
