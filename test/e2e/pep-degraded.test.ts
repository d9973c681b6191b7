import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { iq, expectStanzaError } from '../harness/xmpp-client';
import { eventAbout, type PepClient } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { eventually } from '../harness/wait';
import { itemsIq, publishIq, pubsubCondition, resultItemIds } from '../harness/pubsub-iq';

// PEP on a Prosody that delegates but grants no XEP-0356 privileges (no privileged_entities): requests are
// still served; what needs a privilege degrades, is logged and audited, and nothing crashes. Rosters are
// unknown, so presence-model nodes fail closed for contacts; notifications cannot be sent.
const TUNE = 'http://jabber.org/protocol/tune';
const ALICE = 'alice@localhost';

let sc: PepScenario;
let alice: PepClient;
let bob: PepClient;

const sqlRows = (text: string, values: unknown[] = []) => sc.sqlRows(text, values);

before(async () => {
  sc = await startPepScenario({
    users: ['alice', 'bob'],
    prosody: { privileges: false, rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: ALICE, subscription: 'both' }] } },
  });
  alice = await sc.pep('alice', 'phone', [TUNE]);
  bob = await sc.pep('bob', 'pc', [TUNE]);
});

after(async () => {
  await sc?.stop();
});

test('without privileges: publish and own reads work, contacts fail closed, refusals are audited, no worker crashes', async () => {
  await iq(alice.client, publishIq(TUNE, 't1', xml('tune', { xmlns: TUNE }, xml('title', {}, 'x'))));
  assert.deepEqual(resultItemIds(await iq(alice.client, itemsIq(TUNE))), ['t1']);
  // the roster cannot be fetched (no roster privilege): bob is not known as a contact
  const err = await expectStanzaError(iq(bob.client, itemsIq(TUNE, { to: ALICE })), 'item-not-found');
  assert.equal(pubsubCondition(err), undefined, 'a presence-model node fails closed when the roster is unknown (and looks missing)');
  // the worker asked for the roster and the ingress refused it (audited); without the presence privilege
  // nobody is known online, so no notification is even attempted
  const refused = await eventually(async () => {
    const rows = await sqlRows(`select type, payload from events where type = 'iq.refused'`);
    return rows.length > 0 ? rows : undefined;
  }, 10_000, 'iq.refused event');
  assert.ok(refused.every((r) => r.payload.error === 'no-permission' && r.payload.kind === 'roster-get'), JSON.stringify(refused));
  assert.equal((await sqlRows('select count(*)::int as n from presence_sessions'))[0]!.n, 0);
  assert.deepEqual(await alice.eventsAfterQuiet(eventAbout(TUNE, ALICE), 500), []);
  // every service still answers its health check
  for (const [name, port] of Object.entries(sc.stack.httpPorts)) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200, `${name} /healthz`);
  }
});
