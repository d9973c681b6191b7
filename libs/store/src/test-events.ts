/** Builders of valid audit events for tests (not exported from the package). */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@dbroker/bus';

type Of<T extends AuditEvent['type']> = Extract<AuditEvent, { type: T }>;
type Overrides<T extends AuditEvent['type']> = Partial<Omit<Of<T>, 'type'>>;

let clock = Date.parse('2026-01-01T00:00:00.000Z');
/** Strictly increasing timestamps, so that ordering by time is deterministic. */
export const tick = (): string => new Date((clock += 1000)).toISOString();

const base = () => ({ id: randomUUID(), at: tick(), server: 'example.org', component: 'broker.example.org' });

export const received = (o: Overrides<'request.received'> = {}): Of<'request.received'> => ({
  ...base(),
  type: 'request.received',
  requestId: randomUUID(),
  from: 'alice@example.org/phone',
  to: 'alice@example.org',
  namespace: 'http://jabber.org/protocol/pubsub',
  iqType: 'set',
  iqId: 'iq1',
  route: 'pubsub',
  subject: 'xmpp.example_2eorg.pubsub',
  ...o,
});

export const answered = (o: Overrides<'request.answered'> = {}): Of<'request.answered'> => ({
  ...base(),
  type: 'request.answered',
  requestId: randomUUID(),
  outcome: 'result',
  latencyMs: 12.5,
  worker: 'pep-1',
  ...o,
});

export const rejected = (o: Overrides<'request.rejected'> = {}): Of<'request.rejected'> => ({
  ...base(),
  type: 'request.rejected',
  reason: 'namespace-not-granted',
  condition: 'service-unavailable',
  ...o,
});

export const advertised = (o: Overrides<'grant.advertised'> = {}): Of<'grant.advertised'> => ({
  ...base(),
  type: 'grant.advertised',
  version: 'urn:xmpp:delegation:2',
  grants: [{ namespace: 'http://jabber.org/protocol/pubsub', attributes: [] }],
  replace: true,
  ...o,
});

export const adRejected = (o: Overrides<'advertisement.rejected'> = {}): Of<'advertisement.rejected'> => ({
  ...base(),
  type: 'advertisement.rejected',
  from: 'evil.example.net',
  reason: 'untrusted-sender',
  ...o,
});

export const privAdvertised = (o: Overrides<'privilege.advertised'> = {}): Of<'privilege.advertised'> => ({
  ...base(),
  type: 'privilege.advertised',
  version: 'urn:xmpp:privilege:2',
  perms: { roster: 'get', message: 'outgoing', presence: 'roster', iq: [] },
  ...o,
});

export const privRefused = (o: Overrides<'privilege.refused'> = {}): Of<'privilege.refused'> => ({
  ...base(),
  type: 'privilege.refused',
  reason: 'from is a full JID',
  error: 'not-allowed',
  from: 'alice@example.org/phone',
  to: 'bob@example.org',
  worker: 'mam-1',
  ...o,
});

export const streamProtocols = (o: Overrides<'stream.protocols'> = {}): Of<'stream.protocols'> => ({
  ...base(),
  type: 'stream.protocols',
  delegation: 'urn:xmpp:delegation:2',
  privilege: 'urn:xmpp:privilege:2',
  ...o,
});

export const iqRefused = (o: Overrides<'iq.refused'> = {}): Of<'iq.refused'> => ({
  ...base(),
  type: 'iq.refused',
  reason: 'roster permission none',
  error: 'no-permission',
  kind: 'roster-get',
  to: 'alice@example.org',
  worker: 'pep-1',
  ...o,
});
