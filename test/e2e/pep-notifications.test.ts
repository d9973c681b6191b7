import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { iq, expectStanzaError } from '../harness/xmpp-client';
import { eventAbout, eventItems, NS_EVENT, type PepClient } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { eventually } from '../harness/wait';
import {
  affiliationsSetIq,
  itemsIq,
  NS_PUBSUB,
  publishIq,
  pubsubCondition,
  resultItemIds,
  retractIq,
  subscribeIq,
  unsubscribeIq,
  ownerIq,
} from '../harness/pubsub-iq';

// PEP as users see it, through delegation (XEP-0355) and privileges (XEP-0356) on a real Prosody 0.12:
// who gets notified, who may read, the last item on login. Two PEP worker replicas serve the suite.
//
// Cast (alice owns the nodes; her roster decides):
//   bob   contact, subscription both, group "friends", wants tune+notify
//   carol contact, subscription both, no group, does NOT advertise +notify
//   frank alice's roster has him as `to` (he does not see her presence), wants +notify
//   dave  stranger (not in any roster), wants +notify
//   eve   stranger, subscribes explicitly to an open node
const TUNE = 'http://jabber.org/protocol/tune';
const MOOD = 'http://jabber.org/protocol/mood';
const BLOG = 'urn:xmpp:microblog:0';
const ALICE = 'alice@localhost';
const QUIET_MS = 1500;

let sc: PepScenario;
let alice1: PepClient;
let alice2: PepClient;
let bob: PepClient;
let carol: PepClient;
let frank: PepClient;
let dave: PepClient;
let eve: PepClient;

const tune = (title: string) => xml('tune', { xmlns: TUNE }, xml('title', {}, title));
const sqlRows = (text: string, values: unknown[] = []) => sc.sqlRows(text, values);
const pep = (user: string, resource: string, notify: string[]) => sc.pep(user, resource, notify);

async function expectError(p: Promise<unknown>, condition: string, appCondition?: string) {
  const err = await expectStanzaError(p, condition);
  if (appCondition) assert.equal(pubsubCondition(err), appCondition, err.stanza.toString());
  return err;
}

before(async () => {
  sc = await startPepScenario({
    users: ['alice', 'bob', 'carol', 'frank', 'dave', 'eve'],
    stack: { pepReplicas: 2 },
    prosody: { rosters: {
      alice: [
        { jid: 'bob@localhost', subscription: 'both', groups: ['friends'] },
        { jid: 'carol@localhost', subscription: 'both' },
        { jid: 'frank@localhost', subscription: 'to' },
      ],
      bob: [{ jid: ALICE, subscription: 'both', groups: ['friends'] }],
      carol: [{ jid: ALICE, subscription: 'both' }],
      frank: [{ jid: ALICE, subscription: 'from' }],
    } },
  });
  alice1 = await pep('alice', 'phone', [TUNE, MOOD, BLOG]);
  alice2 = await pep('alice', 'laptop', []);
  bob = await pep('bob', 'pc', [TUNE, MOOD, BLOG]);
  carol = await pep('carol', 'pc', []);
  frank = await pep('frank', 'pc', [TUNE, MOOD]);
  dave = await pep('dave', 'pc', [TUNE, MOOD, BLOG]);
  eve = await pep('eve', 'pc', []);
  await sc.waitOnline(alice1, alice2, bob, carol, frank, dave, eve);
});

after(async () => {
  await sc?.stop();
});

describe('notifications', () => {
  test('a publish reaches the owner\'s resources and +notify contacts, from the owner\'s bare JID, and nobody else', async () => {
    await iq(alice1.client, publishIq(TUNE, 't1', tune('First')));
    const about = eventAbout(TUNE, ALICE, 'items');
    for (const pc of [alice1, alice2, bob]) {
      const msg = await pc.waitForEvent(about, 10_000, 'tune notification');
      assert.deepEqual(eventItems(msg).items, ['t1']);
      assert.equal(msg.attrs.from, ALICE);
      assert.equal(msg.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('tune', TUNE)!.getChildText('title'), 'First');
    }
    // carol has no +notify, frank does not see alice's presence, dave is a stranger
    for (const pc of [carol, frank, dave, eve]) assert.deepEqual(await pc.eventsAfterQuiet(about, pc === carol ? QUIET_MS : 0), [], `${pc.jid} must not be notified`);
    // XEP-0115: the broker resolved each caps hash once (cached in Postgres, shared by both replicas)
    const caps = await sqlRows(`select ver, verified from caps_cache`);
    assert.ok(caps.length >= 2, JSON.stringify(caps));
    assert.ok(caps.every((c) => c.verified === 'yes'), JSON.stringify(caps));
  });

  test('a retract is notified to the same audience when the node says so', async () => {
    await iq(alice1.client, publishIq(TUNE, 't2', tune('Second')));
    await bob.waitForEvent((m) => eventAbout(TUNE, ALICE)(m) && eventItems(m).items.includes('t2'));
    await iq(alice1.client, retractIq(TUNE, 't2', { notify: true }));
    const msg = await bob.waitForEvent((m) => eventAbout(TUNE, ALICE)(m) && eventItems(m).retracts.includes('t2'), 10_000, 'retract notification');
    assert.equal(msg.attrs.from, ALICE);
    assert.deepEqual(await dave.eventsAfterQuiet((m) => eventItems(m).retracts.includes('t2'), QUIET_MS), []);
  });

  test('an explicit subscriber of an open node is notified with its SubID, until it unsubscribes', async () => {
    await iq(alice1.client, publishIq(BLOG, 'p1', xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, 'hello')), { options: { access_model: 'open' } }));
    const res = await iq(eve.client, subscribeIq(ALICE, BLOG, eve.jid.split('/')[0]!));
    const sub = res.getChild('pubsub', NS_PUBSUB)!.getChild('subscription')!;
    assert.equal(sub.attrs.subscription, 'subscribed');
    const subid = sub.attrs.subid as string;
    await iq(alice1.client, publishIq(BLOG, 'p2', xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, 'second'))));
    const msg = await eve.waitForEvent((m) => eventAbout(BLOG, ALICE)(m) && eventItems(m).items.includes('p2'), 10_000, 'subscriber notification');
    const header = msg.getChild('headers', 'http://jabber.org/protocol/shim')?.getChildren('header').find((h) => h.attrs.name === 'SubID');
    assert.equal(header?.getText(), subid);
    await iq(eve.client, unsubscribeIq(ALICE, BLOG, eve.jid.split('/')[0]!, subid));
    await iq(alice1.client, publishIq(BLOG, 'p3', xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, 'third'))));
    await bob.waitForEvent((m) => eventAbout(BLOG, ALICE)(m) && eventItems(m).items.includes('p3'));
    assert.deepEqual(await eve.eventsAfterQuiet((m) => eventItems(m).items.includes('p3'), QUIET_MS), []);
  });

  test('purge and delete are notified to subscribers', async () => {
    const node = 'urn:xmpp:e2e:purge-delete';
    await iq(alice1.client, publishIq(node, 'x1', xml('x', { xmlns: 'urn:xmpp:e2e' }), { options: { access_model: 'open' } }));
    await iq(eve.client, subscribeIq(ALICE, node, 'eve@localhost'));
    await iq(alice1.client, ownerIq('set', xml('purge', { node })));
    await eve.waitForEvent(eventAbout(node, ALICE, 'purge'), 10_000, 'purge notification');
    assert.deepEqual(resultItemIds(await iq(alice1.client, itemsIq(node))), []);
    await iq(alice1.client, ownerIq('set', xml('delete', { node })));
    await eve.waitForEvent(eventAbout(node, ALICE, 'delete'), 10_000, 'delete notification');
    await expectError(iq(alice1.client, itemsIq(node)), 'item-not-found');
  });

  test('the last published item arrives, delayed, when a contact logs in', async () => {
    await iq(alice1.client, publishIq(MOOD, 'm1', xml('mood', { xmlns: MOOD }, xml('happy'))));
    await bob.waitForEvent(eventAbout(MOOD, ALICE));
    // a second bob resource comes online: it alone receives the stored item, with <delay/>
    const bob2 = await pep('bob', 'tablet', [MOOD]);
    const msg = await bob2.waitForEvent(eventAbout(MOOD, ALICE, 'items'), 10_000, 'last item on login');
    assert.deepEqual(eventItems(msg).items, ['m1']);
    const delay = msg.getChild('delay', 'urn:xmpp:delay');
    assert.ok(delay?.attrs.stamp, msg.toString());
    assert.ok(Math.abs(Date.parse(delay.attrs.stamp as string) - Date.now()) < 60_000);
    // a stranger logging in gets nothing of alice's presence-model nodes
    const dave2 = await pep('dave', 'tablet', [MOOD]);
    assert.deepEqual(await dave2.eventsAfterQuiet(eventAbout(MOOD, ALICE), QUIET_MS), []);
  });
});

describe('access models', () => {
  test('presence (default): contacts with a presence subscription read, others are refused', async () => {
    await iq(alice1.client, publishIq(TUNE, 'a1', tune('Access')));
    assert.deepEqual(resultItemIds(await iq(bob.client, itemsIq(TUNE, { to: ALICE }))), ['a1']);
    await expectError(iq(dave.client, itemsIq(TUNE, { to: ALICE })), 'item-not-found');
    await expectError(iq(frank.client, itemsIq(TUNE, { to: ALICE })), 'item-not-found');
  });

  test('roster: only contacts in an allowed group read', async () => {
    const node = 'urn:xmpp:e2e:roster';
    await iq(alice1.client, publishIq(node, 'r1', xml('x', { xmlns: 'urn:xmpp:e2e' }), { options: { access_model: 'roster', roster_groups_allowed: ['friends'] } }));
    assert.deepEqual(resultItemIds(await iq(bob.client, itemsIq(node, { to: ALICE }))), ['r1']);
    await expectError(iq(carol.client, itemsIq(node, { to: ALICE })), 'item-not-found');
    await expectError(iq(dave.client, itemsIq(node, { to: ALICE })), 'item-not-found');
  });

  test('whitelist: nobody but the owner until the owner makes someone a member', async () => {
    const node = 'urn:xmpp:e2e:whitelist';
    await iq(alice1.client, publishIq(node, 'w1', xml('x', { xmlns: 'urn:xmpp:e2e' }), { options: { access_model: 'whitelist' } }));
    await expectError(iq(carol.client, itemsIq(node, { to: ALICE })), 'item-not-found');
    await iq(alice1.client, affiliationsSetIq(node, { 'carol@localhost': 'member' }));
    assert.deepEqual(resultItemIds(await iq(carol.client, itemsIq(node, { to: ALICE }))), ['w1']);
    await expectError(iq(bob.client, itemsIq(node, { to: ALICE })), 'item-not-found');
  });

  test('open: anyone reads, strangers included', async () => {
    const node = 'urn:xmpp:e2e:open';
    await iq(alice1.client, publishIq(node, 'o1', xml('x', { xmlns: 'urn:xmpp:e2e' }), { options: { access_model: 'open' } }));
    assert.deepEqual(resultItemIds(await iq(dave.client, itemsIq(node, { to: ALICE }))), ['o1']);
  });
});

describe('stateless workers', () => {
  test('requests land on both PEP replicas with correct results', async () => {
    for (let i = 0; i < 12; i++) await iq(bob.client, publishIq('urn:xmpp:e2e:replicas', `i${i}`, xml('x', { xmlns: 'urn:xmpp:e2e' }, String(i)), { options: { max_items: '20' } }));
    assert.deepEqual(resultItemIds(await iq(bob.client, itemsIq('urn:xmpp:e2e:replicas'))), Array.from({ length: 12 }, (_, i) => `i${i}`));
    const workers = await eventually(async () => {
      const rows = await sqlRows(`select distinct worker from audit_log where namespace = $1 and worker is not null`, [NS_PUBSUB]);
      return rows.length >= 2 ? rows : undefined;
    }, 10_000, 'audit rows from two workers');
    assert.equal(workers.length, 2, JSON.stringify(workers));
  });
});
