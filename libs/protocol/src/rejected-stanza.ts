import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { delegationVersionOf, wrapBrokenRequestError, type DelegationContext } from './delegation';
import { buildIqError, iqType } from './iq';
import { StanzaError } from './stanza-error';
import type { RejectedStanza } from './stream-parser';
import { childElements } from './xml-util';

const PUBSUB_NS = 'http://jabber.org/protocol/pubsub';
const PUBSUB_ERRORS_NS = 'http://jabber.org/protocol/pubsub#errors';

/**
 * The error for a stanza over a parsing limit: XEP-0060 §7.1.3.4 names `not-acceptable` +
 * `<payload-too-big/>` for a publish whose payload is too large; anything else is RFC 6120's
 * `policy-violation` (§8.3.3.12: the entity violated a local policy such as a size limit), type modify;
 * XML the broker cannot represent (`unsupported-xml`) is a `bad-request`.
 */
export function rejectionError(rejected: RejectedStanza): StanzaError {
  if (rejected.code === 'unsupported-xml') return new StanzaError('bad-request', { type: 'modify' });
  const inner = rejected.stanza.getChild('delegation')?.getChild('forwarded')?.getChild('iq');
  const payload = inner && childElements(inner)[0];
  const action = payload && childElements(payload)[0];
  if (inner?.attrs.type === 'set' && payload?.name === 'pubsub' && payload.attrs.xmlns === PUBSUB_NS && action?.name === 'publish') {
    return new StanzaError('not-acceptable', { type: 'modify', appCondition: xml('payload-too-big', { xmlns: PUBSUB_ERRORS_NS }) });
  }
  return new StanzaError('policy-violation', { type: 'modify' });
}

export type RejectedStanzaReply =
  /** A delegation wrapper (outer result) around an inner error for the client. */
  | { kind: 'wrapped'; reply: Element }
  /** A plain RFC 6120 error to an IQ request that is not a usable delegation. */
  | { kind: 'iq-error'; reply: Element }
  /** An IQ result/error: never answered; `asError` stands in for it (an error the waiting party can take). */
  | { kind: 'response'; asError: Element }
  /** A message, presence or an IQ without the addressing needed to answer. */
  | { kind: 'none' };

/**
 * What to send for a stanza the stream parser refused (`RejectedStanza.stanza` is a skeleton of it).
 * A forwarded IQ from the server gets a wrapper in the version received (never an outer error: ejabberd
 * leaves the client hanging, protocol-notes §1.5); other IQ requests a plain error; responses are not
 * answered (RFC 6120 §8.2.3) but turned into an error for whoever waits for them.
 */
export function replyToRejected(rejected: RejectedStanza, ctx: DelegationContext): RejectedStanzaReply {
  const s = rejected.stanza;
  if (s.name !== 'iq') return { kind: 'none' };
  const err = rejectionError(rejected);
  const type = iqType(s);
  if (type === 'result' || type === 'error') {
    if (!s.attrs.id) return { kind: 'none' };
    const asError = xml('iq', { type: 'error', id: s.attrs.id, ...(s.attrs.from ? { from: s.attrs.from } : {}), ...(s.attrs.to ? { to: s.attrs.to } : {}) });
    asError.cnode(xml('error', { type: 'modify' }, xml('policy-violation', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' })));
    return { kind: 'response', asError };
  }
  if (!s.attrs.id) return { kind: 'none' };
  const version = delegationVersionOf(s);
  if (type === 'set' && version) {
    const wrapped = wrapBrokenRequestError(s, version, err, ctx);
    if (wrapped) return { kind: 'wrapped', reply: wrapped };
  }
  const reply = buildIqError(s, err);
  return reply ? { kind: 'iq-error', reply } : { kind: 'none' };
}
