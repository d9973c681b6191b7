import { StanzaError, type StanzaErrorCondition, type StanzaErrorType } from '@dbroker/protocol';

/**
 * Every way a MAM request is refused, by short name, and the one table from names to XMPP errors
 * (XEP-0313 §4.1, §4.1.4, §5.1, §7.1; XEP-0059 §2.6). Anything thrown that is not a `MamRefusal` becomes
 * `internal-server-error`, its message kept for the log.
 */
export const MAM_ERROR_TABLE = Object.freeze({
  /** Malformed query, form, RSM set or date; wrong FORM_TYPE (XEP-0313 §4.1). */
  'bad-request': { type: 'modify', condition: 'bad-request' },
  /** A form field we do not know (XEP-0313 §4.1.5 MUST), RSM `<index/>` (XEP-0059 §2.6), prefs, ... */
  'feature-not-implemented': { type: 'cancel', condition: 'feature-not-implemented' },
  /** An after/before/after-id/before-id/ids UID not in the archive (XEP-0313 §4.1.4, §5.1.4). */
  'item-not-found': { type: 'cancel', condition: 'item-not-found' },
  /**
   * The node does not exist, or the requester may not read it: both answer alike, so the archive does not
   * reveal a node's existence (as PEP item retrieval answers, XEP-0060 §6.5.9.11).
   */
  'node-not-found': { type: 'cancel', condition: 'item-not-found' },
  /** Not an archive we serve (a query without `node`: the server's own MAM is not delegated to us). */
  'not-an-archive': { type: 'cancel', condition: 'service-unavailable' },
  /** Results cannot be delivered at all: the server granted no `message` privilege (XEP-0356). */
  'delivery-unavailable': { type: 'cancel', condition: 'service-unavailable' },
  /** A result message was refused by the outbound path (a bug or a misconfigured domain). */
  'delivery-rejected': { type: 'cancel', condition: 'internal-server-error' },
  /** The component link is down or did not acknowledge in time: worth a retry. */
  'delivery-offline': { type: 'wait', condition: 'internal-server-error' },
  internal: { type: 'cancel', condition: 'internal-server-error' },
} as const satisfies Record<string, { type: StanzaErrorType; condition: StanzaErrorCondition }>);

export type MamErrorName = keyof typeof MAM_ERROR_TABLE;

/** Thrown (or returned) to refuse a request; `text` goes on the wire, so keep it free of internals. */
export class MamRefusal extends Error {
  override readonly name = 'MamRefusal';
  constructor(
    readonly code: MamErrorName,
    readonly text?: string,
  ) {
    super(text ?? code);
  }
}

export const refuse = (code: MamErrorName, text?: string) => new MamRefusal(code, text);

export function mamStanzaError(r: MamRefusal): StanzaError {
  const spec = MAM_ERROR_TABLE[r.code];
  // an internal failure's detail is for the log, never the wire
  const text = r.code === 'internal' ? undefined : r.text;
  return new StanzaError(spec.condition, { type: spec.type, ...(text ? { text } : {}) });
}

/** Why a result message did not go out; thrown by the injected `deliver`. */
export type MamDeliveryFailure = 'unavailable' | 'rejected' | 'offline';

export class MamDeliveryError extends Error {
  override readonly name = 'MamDeliveryError';
  constructor(
    readonly failure: MamDeliveryFailure,
    /** For the log only. */
    readonly reason: string,
  ) {
    super(`result delivery failed (${failure}): ${reason}`);
  }
}
