import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { ProtocolError } from './errors';
import { buildIqError } from './iq';
import { StanzaError } from './stanza-error';
import { isXmlLimitCode, type XmlLimits } from './xml-limits';
import { parseXml } from './xml-parse';

/** The addressing of a forwarded request as its envelope carries it (the inner IQ's, normalised target). */
export interface RequestAddress {
  iqId: string;
  iqType: 'get' | 'set';
  from: string;
  to: string;
}

/** `reply` is there when the addressing is known: the answer to send instead of the request's outcome. */
export type ParsedRequestStanza = { ok: true; iq: Element } | { ok: false; reason: string; reply?: Element };

/**
 * A worker's parse of the inner IQ the ingress forwarded. The ingress parsed it already under its own
 * limits; a worker configured with smaller ones (or a stanza that did not come from the ingress) must
 * still answer the client properly: over a limit is `policy-violation` (RFC 6120 §8.3.3.12), anything
 * else that does not parse as an IQ a `bad-request`, built from the envelope's addressing.
 */
export function parseRequestStanza(text: string, limits: Partial<XmlLimits>, address?: RequestAddress): ParsedRequestStanza {
  let iq: Element;
  try {
    iq = parseXml(text, limits);
  } catch (err) {
    const code = err instanceof ProtocolError ? err.code : undefined;
    const reason = err instanceof Error ? err.message : String(err);
    const condition = isXmlLimitCode(code) ? 'policy-violation' : 'bad-request';
    return { ok: false, reason, ...(address ? { reply: errorReply(address, new StanzaError(condition, { type: 'modify' })) } : {}) };
  }
  if (iq.name !== 'iq') {
    const reason = 'request stanza is not an iq';
    return { ok: false, reason, ...(address ? { reply: errorReply(address, new StanzaError('bad-request', { type: 'modify' })) } : {}) };
  }
  return { ok: true, iq };
}

function errorReply(address: RequestAddress, err: StanzaError): Element {
  const stub = xml('iq', { type: address.iqType, id: address.iqId, from: address.from, to: address.to });
  // a get or set always has an answer
  return buildIqError(stub, err)!;
}
