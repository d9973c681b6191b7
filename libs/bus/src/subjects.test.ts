import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeToken, encodeToken, requestSubject, routeForNamespace } from './subjects';

test('aliases give readable routes, other namespaces a prefixed encoding', () => {
  assert.equal(routeForNamespace('http://jabber.org/protocol/pubsub'), 'pubsub');
  assert.equal(routeForNamespace('urn:xmpp:mam:2'), 'mam');
  assert.equal(routeForNamespace('urn:example:x'), 'ns-urn_3aexample_3ax');
  assert.equal(requestSubject('xmpp', 'example.org', 'pubsub'), 'xmpp.req.example_2eorg.pubsub');
});

test('token encoding is injective, reversible and NATS-safe', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
      const t = encodeToken(s);
      assert.match(t, /^[a-z0-9_-]*$/);
      assert.equal(decodeToken(t), Buffer.from(s, 'utf8').toString('utf8'));
    }),
    { numRuns: 2000 },
  );
  assert.notEqual(encodeToken('a.b'), encodeToken('a_2eb'));
});
