import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryRosterLookup, createRosterAccessPolicy, decideAccess, type AccessPolicy, type Affiliation } from './access';
import { buildConfig, DEFAULT_NODE_CONFIG, type AccessModel } from './config';
import { decideNodeRead } from './node-access';

const OWNER = 'juliet@capulet.lit';
const node = (access_model: AccessModel, groups: string[] = []) => ({ service: OWNER, node: 'urn:xmpp:avatar:data', config: buildConfig({ access_model, roster_groups_allowed: groups }) });

const roster = createMemoryRosterLookup({
  [OWNER]: [
    { jid: 'nurse@capulet.lit', subscription: 'both', groups: ['Family'] },
    { jid: 'tybalt@capulet.lit', subscription: 'from', groups: ['Cousins'] },
    { jid: 'paris@verona.lit', subscription: 'to', groups: ['Suitors', 'Family'] },
    { jid: 'benvolio@montague.lit', subscription: 'none', groups: [] },
  ],
});
const affiliations: Record<string, Affiliation> = { 'friar@verona.lit': 'member', 'rosaline@capulet.lit': 'outcast', 'nurse@capulet.lit': 'none' };
const policy = createRosterAccessPolicy(roster, { getAffiliation: async (_s, _n, jid) => affiliations[jid] ?? 'none' });

test('the owner (any resource, or bare) always reads; anyone but outcasts reads an open node', async () => {
  for (const model of ['open', 'presence', 'roster', 'whitelist'] as const) {
    assert.deepEqual(await decideNodeRead(node(model), `${OWNER}/balcony`), { allowed: true, by: 'owner' });
    assert.deepEqual(await decideNodeRead(node(model), OWNER, policy), { allowed: true, by: 'owner' });
  }
  assert.deepEqual(await decideNodeRead(node('open'), 'romeo@montague.lit/orchard'), { allowed: true, by: 'open-node' });
  assert.deepEqual(await decideNodeRead(node('open'), 'rosaline@capulet.lit/x', policy), { allowed: false, denial: 'forbidden', accessModel: 'open' });
});

test('presence: roster items with subscription from or both', async () => {
  const n = node('presence');
  assert.equal((await decideNodeRead(n, 'nurse@capulet.lit/kitchen', policy)).allowed, true);
  assert.equal((await decideNodeRead(n, 'tybalt@capulet.lit/x', policy)).allowed, true);
  for (const who of ['paris@verona.lit/x', 'benvolio@montague.lit/x', 'romeo@montague.lit/x']) {
    assert.deepEqual(await decideNodeRead(n, who, policy), { allowed: false, denial: 'presence-subscription-required', accessModel: 'presence' }, who);
  }
});

test('roster: items in one of roster_groups_allowed (any subscription)', async () => {
  const n = node('roster', ['Family']);
  assert.equal((await decideNodeRead(n, 'nurse@capulet.lit/x', policy)).allowed, true);
  assert.equal((await decideNodeRead(n, 'paris@verona.lit/x', policy)).allowed, true);
  assert.deepEqual(await decideNodeRead(n, 'tybalt@capulet.lit/x', policy), { allowed: false, denial: 'not-in-roster-group', accessModel: 'roster' });
  assert.equal((await decideNodeRead(node('roster'), 'nurse@capulet.lit/x', policy)).allowed, false, 'no group allowed: nobody');
});

test('whitelist: affiliated only; members read every model; outcasts nothing', async () => {
  assert.deepEqual(await decideNodeRead(node('whitelist'), 'friar@verona.lit/cell', policy), { allowed: true, by: 'affiliation' });
  assert.deepEqual(await decideNodeRead(node('whitelist'), 'nurse@capulet.lit/x', policy), { allowed: false, denial: 'closed-node', accessModel: 'whitelist' });
  assert.equal((await decideNodeRead(node('presence'), 'friar@verona.lit/cell', policy)).allowed, true);
  for (const model of ['presence', 'roster', 'whitelist'] as const) {
    assert.equal((await decideNodeRead(node(model, ['Family']), 'rosaline@capulet.lit/x', policy)).allowed, false);
  }
  // a look-alike account is not the owner
  assert.equal((await decideNodeRead(node('whitelist'), 'juliet@capulet.lit.evil/x')).allowed, false);
});

test('facts are fetched lazily: the roster only for presence / roster nodes, never for the owner', async () => {
  const asked: string[] = [];
  const spy: AccessPolicy = {
    affiliation: async (n, a) => (asked.push(`aff ${n.node} ${a}`), 'none'),
    rosterEntry: async (o, a) => (asked.push(`roster ${o} ${a}`), undefined),
  };
  await decideNodeRead(node('open'), 'romeo@montague.lit/x', spy);
  await decideNodeRead(node('whitelist'), 'romeo@montague.lit/x', spy);
  await decideNodeRead(node('presence'), 'romeo@montague.lit/x', spy);
  await decideNodeRead(node('presence'), `${OWNER}/x`, spy);
  assert.deepEqual(asked, [
    'aff urn:xmpp:avatar:data romeo@montague.lit',
    'aff urn:xmpp:avatar:data romeo@montague.lit',
    'aff urn:xmpp:avatar:data romeo@montague.lit',
    `roster ${OWNER} romeo@montague.lit`,
  ]);
});

test('decideAccess is the pure core', () => {
  assert.deepEqual(decideAccess(DEFAULT_NODE_CONFIG, { affiliation: 'none', rosterEntry: { jid: 'a@b', subscription: 'both', groups: [] } }), { allowed: true, by: 'roster' });
  assert.deepEqual(decideAccess(DEFAULT_NODE_CONFIG, { affiliation: 'none' }), { allowed: false, reason: 'presence' });
  assert.deepEqual(decideAccess(DEFAULT_NODE_CONFIG, { affiliation: 'publisher' }), { allowed: true, by: 'affiliation' });
});
