import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { iq } from '../harness/xmpp-client';
import { eventAbout } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { eventually } from '../harness/wait';
import { itemsIq, NS_PUBSUB, publishIq, resultItemIds } from '../harness/pubsub-iq';

// deploy/prosody/delegation-broker.cfg.lua works as written: Prosody serves `localhost` from the example
// (names and secret replaced, nothing else), and PEP with notifications and MAM on a node go through the broker.
// (The ejabberd example is what test/harness/ejabberd.ts runs in every ejabberd suite.)
const TUNE = 'http://jabber.org/protocol/tune';

let sc: PepScenario;

before(async () => {
  sc = await startPepScenario({
    users: ['alice', 'bob'],
    prosody: { deployExample: true, rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: 'alice@localhost', subscription: 'both' }] } },
  });
});

after(async () => {
  await sc?.stop();
});

test('the Prosody deploy example delegates PEP and node MAM and grants the privileges notifications need', async () => {
  const grants = await eventually(async () => {
    const rows = await sc.sqlRows('select namespace from grants');
    return rows.length >= 5 ? rows.map((r) => r.namespace as string).sort() : undefined;
  }, 15_000, 'grants');
  assert.deepEqual(grants, ['http://jabber.org/protocol/pubsub', 'http://jabber.org/protocol/pubsub#owner', 'urn:xmpp:delegation:2:bare:disco#info:*', 'urn:xmpp:delegation:2:bare:disco#items:*', 'urn:xmpp:mam:2']);
  const priv = await eventually(async () => (await sc.sqlRows('select perms from privileges'))[0], 10_000, 'privileges');
  assert.deepEqual([priv.perms.roster, priv.perms.message, priv.perms.presence], ['get', 'outgoing', 'roster']);

  const alice = await sc.pep('alice', 'a', [TUNE]);
  const bob = await sc.pep('bob', 'b', [TUNE]);
  await sc.waitOnline(bob);
  await iq(alice.client, publishIq(TUNE, 't1', xml('tune', { xmlns: TUNE }, xml('title', {}, 'deployed'))));
  await bob.waitForEvent(eventAbout(TUNE, 'alice@localhost', 'items'), 10_000, 'notification');
  assert.deepEqual(resultItemIds(await iq(bob.client, itemsIq(TUNE, { to: 'alice@localhost' }))), ['t1']);
  const mam = await iq(bob.client, xml('iq', { type: 'set', to: 'alice@localhost', id: 'mam1' }, xml('query', { xmlns: 'urn:xmpp:mam:2', node: TUNE, queryid: 'q1' })));
  assert.equal(mam.getChild('fin', 'urn:xmpp:mam:2')?.attrs.complete, 'true', mam.toString());
  // audit_log is the projector's (eventually consistent): wait for it
  await eventually(async () => (await sc.sqlRows(`select count(*)::int as n from audit_log where namespace = $1 and outcome = 'result'`, [NS_PUBSUB]))[0]!.n >= 2 || undefined, 10_000, 'audit_log rows');
});
