import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, decodeRequest, encodeEnvelope } from './envelope';

const req = { v: 1 as const, requestId: 'r1', server: 'localhost', namespace: 'http://jabber.org/protocol/pubsub', from: 'a@localhost/x', to: 'a@localhost', iqType: 'get' as const, iqId: 'i1', stanza: '<iq/>', deadline: Date.now() + 1000 };

test('request envelope round-trips and rejects bad shapes with a reason', () => {
  const d = decodeRequest(encodeEnvelope(req));
  assert.ok(d.ok);
  const bad = decodeRequest(new TextEncoder().encode(JSON.stringify({ ...req, iqType: 'result' })));
  assert.ok(!bad.ok && /iqType/.test(bad.reason));
  const notJson = decodeRequest(new TextEncoder().encode('<iq/>'));
  assert.ok(!notJson.ok && /not JSON/.test(notJson.reason));
});

test('a reply carries exactly one of stanza or failure', () => {
  assert.ok(decodeReply(encodeEnvelope({ v: 1, requestId: 'r', worker: 'w', stanza: '<iq/>' })).ok);
  assert.ok(decodeReply(encodeEnvelope({ v: 1, requestId: 'r', worker: 'w', failure: { condition: 'internal-server-error' } })).ok);
  assert.ok(!decodeReply(new TextEncoder().encode(JSON.stringify({ v: 1, requestId: 'r', worker: 'w' }))).ok);
  assert.ok(!decodeReply(new TextEncoder().encode(JSON.stringify({ v: 1, requestId: 'r', worker: 'w', stanza: '<iq/>', failure: { condition: 'x' } }))).ok);
});
