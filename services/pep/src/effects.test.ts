import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryPubsubStorage, createPubsubEngine } from '@dbroker/pubsub';
import { capturingEffects } from './effects';

test('the capturing engine records the effects of successful calls only, and changes nothing else', async () => {
  const engine = createPubsubEngine({ storage: createMemoryPubsubStorage() });
  const { engine: capturing, effects } = capturingEffects(engine);
  const owner = 'alice@example.org';
  const pub = await capturing.publish(owner, 'n', `${owner}/a`, 'i1', '<x xmlns="urn:x"/>', { requestId: 'r1' });
  assert.equal(pub.ok, true);
  assert.deepEqual(effects.map((e) => e.type), ['node-created', 'published']);
  // a refused call adds nothing; a read has no effects
  assert.equal((await capturing.retract(owner, 'n', 'mallory@example.net/x', 'i1', { requestId: 'r2' })).ok, false);
  assert.equal((await capturing.getItems(owner, 'n', `${owner}/a`)).ok, true);
  assert.equal(effects.length, 2);
  assert.equal((await capturing.retract(owner, 'n', `${owner}/a`, 'i1', { requestId: 'r3', notify: true })).ok, true);
  assert.deepEqual(effects.map((e) => e.type), ['node-created', 'published', 'retracted']);
  // synchronous members pass through untouched
  assert.deepEqual(capturing.defaultConfig(), engine.defaultConfig());
});
