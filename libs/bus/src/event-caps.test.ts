import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDIT_FIELD_MAX_CHARS, AUDIT_MAX_ARRAY_ITEMS, capAuditFields, truncateText, TRUNCATION_MARK } from './event-caps';
import { AuditEventSchema } from './events';

const base = { id: '7b0e5c4e-1c1a-4a39-9d7b-5a1f7d0f6a11', at: new Date().toISOString(), server: 'localhost', component: 'pubsub.localhost' };

test('a 200 KB IQ id and an oversized JID are cut to their caps, marked and listed; the event stays valid', () => {
  const ev = { ...base, type: 'request.received', requestId: 'r1', from: `${'a'.repeat(5000)}@localhost/x`, to: 'bob@localhost', namespace: 'urn:x', iqType: 'get', iqId: 'i'.repeat(200_000), route: 'pubsub', subject: 'xmpp.req' };
  const capped = capAuditFields(ev);
  assert.equal(capped.iqId.length, AUDIT_FIELD_MAX_CHARS.iqId);
  assert.ok(capped.iqId.endsWith(TRUNCATION_MARK));
  assert.equal(capped.from.length, AUDIT_FIELD_MAX_CHARS.from);
  assert.equal(capped.to, 'bob@localhost');
  assert.deepEqual((capped as unknown as { truncated: string[] }).truncated, ['from', 'iqId']);
  assert.ok(AuditEventSchema.safeParse(capped).success);
  assert.ok(Buffer.byteLength(JSON.stringify(capped)) < 8 * 1024);
});

test('nothing to cut: the same object comes back, without a truncated list', () => {
  const ev = { ...base, type: 'request.rejected', reason: 'short', condition: 'bad-request' };
  assert.equal(capAuditFields(ev), ev);
});

test('nested strings and long arrays are capped (a server advertising thousands of grants)', () => {
  const grants = Array.from({ length: 1000 }, (_, i) => ({ namespace: `urn:${i}:${'n'.repeat(i === 3 ? 5000 : 1)}`, attributes: [] }));
  const capped = capAuditFields({ ...base, type: 'grant.advertised', version: 'urn:xmpp:delegation:2', grants, replace: true });
  assert.equal(capped.grants.length, AUDIT_MAX_ARRAY_ITEMS);
  assert.equal(capped.grants[3]!.namespace.length, AUDIT_FIELD_MAX_CHARS.namespace);
  assert.deepEqual((capped as unknown as { truncated: string[] }).truncated, ['grants', 'grants.3.namespace']);
});

test('a cut never splits a surrogate pair', () => {
  const s = 'a'.repeat(8) + '😀'.repeat(10);
  for (let max = 2; max < 20; max++) {
    const t = truncateText(s, max);
    assert.ok(t.length <= max);
    assert.doesNotMatch(t, /[\ud800-\udbff](?![\udc00-\udfff])/);
  }
});

test('a forged event with a huge truncated list or unknown huge fields is capped too', () => {
  const capped = capAuditFields({ ...base, type: 'request.rejected', reason: 'x', condition: 'c', truncated: Array.from({ length: 5000 }, () => 'p'.repeat(10_000)), extra: 'e'.repeat(10_000) });
  assert.ok(Buffer.byteLength(JSON.stringify(capped)) < 64 * 1024);
});
