import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_NODE_CONFIG, type AccessModel } from './config';
import { decideNodeRead } from './node-access';

const node = (access_model: AccessModel) => ({ service: 'juliet@capulet.lit', node: 'urn:xmpp:avatar:data', config: { ...DEFAULT_NODE_CONFIG, access_model } });

test('the owner (any resource, or bare) always reads; anyone reads an open node', async () => {
  for (const model of ['open', 'presence', 'roster', 'whitelist'] as const) {
    assert.deepEqual(await decideNodeRead(node(model), 'juliet@capulet.lit/balcony'), { allowed: true, by: 'owner' });
    assert.deepEqual(await decideNodeRead(node(model), 'juliet@capulet.lit'), { allowed: true, by: 'owner' });
  }
  assert.deepEqual(await decideNodeRead(node('open'), 'romeo@montague.lit/orchard'), { allowed: true, by: 'open-node' });
});

test('non-open nodes: the policy decides for non-owners, and is asked only then; each model has its denial', async () => {
  const asked: string[] = [];
  const policy = { canRead: async (owner: string, n: string, _c: unknown, actor: string) => (asked.push(`${owner} ${n} ${actor}`), actor.startsWith('nurse@')) };
  assert.deepEqual(await decideNodeRead(node('roster'), 'nurse@capulet.lit/x', policy), { allowed: true, by: 'access-policy' });
  assert.deepEqual(await decideNodeRead(node('presence'), 'romeo@montague.lit/orchard'), { allowed: false, denial: 'presence-subscription-required', accessModel: 'presence' });
  assert.deepEqual(await decideNodeRead(node('roster'), 'romeo@montague.lit/orchard', policy), { allowed: false, denial: 'not-in-roster-group', accessModel: 'roster' });
  assert.deepEqual(await decideNodeRead(node('whitelist'), 'romeo@montague.lit/orchard'), { allowed: false, denial: 'closed-node', accessModel: 'whitelist' });
  assert.deepEqual(asked, ['juliet@capulet.lit urn:xmpp:avatar:data nurse@capulet.lit/x', 'juliet@capulet.lit urn:xmpp:avatar:data romeo@montague.lit/orchard']);
  // a look-alike account is not the owner
  assert.equal((await decideNodeRead(node('whitelist'), 'juliet@capulet.lit.evil/x')).allowed, false);
});
