import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { decodeAuditMessage } from './decode';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ev = () => ({ id: randomUUID(), at: new Date().toISOString(), server: 'localhost', component: 'pubsub.localhost', type: 'request.rejected', reason: 'r', condition: 'bad-request' });

test('a stream message holds one event or a batch; invalid batch members are reported, the rest kept', () => {
  const one = ev();
  assert.deepEqual(decodeAuditMessage(enc(one)), { ok: true, events: [one], invalid: [] });
  const a = ev();
  const b = ev();
  const d = decodeAuditMessage(enc({ batch: [a, { type: 'nonsense' }, b] }));
  assert.ok(d.ok);
  assert.deepEqual(d.events, [a, b]);
  assert.equal(d.invalid.length, 1);
  assert.deepEqual(decodeAuditMessage(enc({ batch: [] })).ok, false);
  assert.deepEqual(decodeAuditMessage(enc('{nope')), { ok: false, reason: 'not JSON' });
  assert.equal(decodeAuditMessage(enc({ batch: [{ id: 'x' }] })).ok, false);
});

test('the user-state event types decode (stream.protocols with nulls, iq.refused)', () => {
  const base = { id: randomUUID(), at: new Date().toISOString(), server: 'localhost', component: 'pubsub.localhost' };
  const protocols = { ...base, type: 'stream.protocols', delegation: 'urn:xmpp:delegation:1', privilege: null };
  const refused = { ...base, id: randomUUID(), type: 'iq.refused', reason: 'roster none', error: 'no-permission', kind: 'roster-get', to: 'alice@localhost', worker: 'pep-1' };
  assert.deepEqual(decodeAuditMessage(enc({ batch: [protocols, refused] })), { ok: true, events: [protocols, refused], invalid: [] });
  assert.equal(decodeAuditMessage(enc({ ...protocols, delegation: 'urn:xmpp:delegation:3' })).ok, false);
  assert.equal(decodeAuditMessage(enc({ ...refused, error: 'nope' })).ok, false);
});
