import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import xml from '@xmpp/xml';
import { iq } from '../harness/xmpp-client';
import { eventAbout, eventItems, NS_EVENT, type PepClient } from '../harness/pep-client';
import { startPepScenario, type PepScenario } from '../harness/pep-scenario';
import { discoIq, formValues, itemsIq, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PUBSUB, NS_PUBSUB_OWNER, ownerIq, publishIq, resultItemIds, retractIq } from '../harness/pubsub-iq';

// What real clients do with PEP, each workload round-tripped through delegation on a real Prosody 0.12:
// avatars (XEP-0084), nickname (XEP-0172), OMEMO device list and bundles, bookmarks (XEP-0402), and the
// disco a client does first (XEP-0163 §3, bare-JID disco#info / disco#items through the pseudo-namespaces).
const ALICE = 'alice@localhost';
const AVATAR_DATA = 'urn:xmpp:avatar:data';
const AVATAR_META = 'urn:xmpp:avatar:metadata';
const NICK = 'http://jabber.org/protocol/nick';
const DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist';
const BUNDLES = 'eu.siacs.conversations.axolotl.bundles';
const BOOKMARKS = 'urn:xmpp:bookmarks:1';
const QUIET_MS = 1500;

let sc: PepScenario;
let alice1: PepClient;
let alice2: PepClient;
let bob: PepClient;
let dave: PepClient;

const pep = (user: string, resource: string, notify: string[]) => sc.pep(user, resource, notify);

before(async () => {
  sc = await startPepScenario({
    users: ['alice', 'bob', 'dave'],
    prosody: { rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: ALICE, subscription: 'both' }] } },
  });
  const everything = [AVATAR_META, NICK, DEVICELIST, BOOKMARKS];
  alice1 = await pep('alice', 'phone', everything);
  alice2 = await pep('alice', 'laptop', everything);
  bob = await pep('bob', 'pc', everything);
  dave = await pep('dave', 'pc', everything);
  await sc.waitOnline(alice1, alice2, bob, dave);
});

after(async () => {
  await sc?.stop();
});

test('avatar (XEP-0084): data then metadata; contacts get the metadata and fetch the data by id', async () => {
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
  const id = createHash('sha1').update(png).digest('hex');
  await iq(alice1.client, publishIq(AVATAR_DATA, id, xml('data', { xmlns: AVATAR_DATA }, png.toString('base64'))));
  await iq(alice1.client, publishIq(AVATAR_META, id, xml('metadata', { xmlns: AVATAR_META }, xml('info', { bytes: String(png.length), id, height: '1', width: '1', type: 'image/png' }))));
  const msg = await bob.waitForEvent(eventAbout(AVATAR_META, ALICE, 'items'), 10_000, 'avatar metadata notification');
  const info = msg.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('metadata', AVATAR_META)!.getChild('info')!;
  assert.equal(info.attrs.id, id);
  const data = await iq(bob.client, itemsIq(AVATAR_DATA, { to: ALICE, ids: [id] }));
  const b64 = data.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChild('item')!.getChildText('data', AVATAR_DATA);
  assert.deepEqual(Buffer.from(b64 ?? '', 'base64'), png);
  // the data node itself sends no notification to contacts (nobody asks data+notify)
  assert.deepEqual(await bob.eventsAfterQuiet(eventAbout(AVATAR_DATA, ALICE), 0), []);
});

test('nickname (XEP-0172): contacts are notified, strangers are not', async () => {
  await iq(alice1.client, publishIq(NICK, 'current', xml('nick', { xmlns: NICK }, 'Alice in Wonderland')));
  const msg = await bob.waitForEvent(eventAbout(NICK, ALICE, 'items'), 10_000, 'nick notification');
  assert.equal(msg.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChildText('nick', NICK), 'Alice in Wonderland');
  assert.deepEqual(await dave.eventsAfterQuiet(eventAbout(NICK, ALICE), QUIET_MS), []);
});

test('OMEMO: device list and bundle published with access_model=open are readable by anyone; notified to contacts only', async () => {
  const list = xml('list', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('device', { id: '12345' }));
  await iq(alice1.client, publishIq(DEVICELIST, 'current', list, { options: { access_model: 'open' } }));
  const bundle = xml('bundle', { xmlns: 'eu.siacs.conversations.axolotl' },
    xml('signedPreKeyPublic', { signedPreKeyId: '1' }, 'BQ=='), xml('signedPreKeySignature', {}, 'AA=='), xml('identityKey', {}, 'BQ=='),
    xml('prekeys', {}, xml('preKeyPublic', { preKeyId: '1' }, 'BQ==')));
  await iq(alice1.client, publishIq(`${BUNDLES}:12345`, 'current', bundle, { options: { access_model: 'open' } }));
  // a stranger (dave) starts an OMEMO session: reads the list and the bundle
  const got = await iq(dave.client, itemsIq(DEVICELIST, { to: ALICE }));
  assert.equal(got.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChild('item')!.getChild('list')!.getChild('device')!.attrs.id, '12345');
  assert.deepEqual(resultItemIds(await iq(dave.client, itemsIq(`${BUNDLES}:12345`, { to: ALICE }))), ['current']);
  // notified to the contact with +notify; a stranger may read the open node but is not implicitly subscribed
  // (XEP-0163 §4.3: implicit subscriptions follow the presence subscription)
  await bob.waitForEvent(eventAbout(DEVICELIST, ALICE, 'items'), 10_000, 'devicelist notification (contact)');
  assert.deepEqual(await dave.eventsAfterQuiet(eventAbout(DEVICELIST, ALICE), QUIET_MS), []);
  // publishing again with the same options keeps the node; a conflicting option is precondition-not-met
  await iq(alice1.client, publishIq(DEVICELIST, 'current', list, { options: { access_model: 'open' } }));
  await assert.rejects(iq(alice1.client, publishIq(DEVICELIST, 'current', list, { options: { access_model: 'whitelist' } })), (err: Error & { condition?: string }) => err.condition === 'conflict');
});

test('bookmarks (XEP-0402): whitelist, max_items=max, notifications to own resources only', async () => {
  const options = { persist_items: 'true', max_items: 'max', send_last_published_item: 'never', access_model: 'whitelist' };
  const conf = (name: string) => xml('conference', { xmlns: BOOKMARKS, name, autojoin: 'true' }, xml('nick', {}, 'alice'));
  await iq(alice1.client, publishIq(BOOKMARKS, 'room1@muc.localhost', conf('Room 1'), { options }));
  await iq(alice1.client, publishIq(BOOKMARKS, 'room2@muc.localhost', conf('Room 2'), { options }));
  const msg = await alice2.waitForEvent((m) => eventAbout(BOOKMARKS, ALICE)(m) && eventItems(m).items.includes('room2@muc.localhost'), 10_000, 'bookmark on own other resource');
  assert.equal(msg.attrs.from, ALICE);
  assert.deepEqual(resultItemIds(await iq(alice2.client, itemsIq(BOOKMARKS))), ['room1@muc.localhost', 'room2@muc.localhost']);
  await iq(alice1.client, retractIq(BOOKMARKS, 'room1@muc.localhost', { notify: true }));
  await alice2.waitForEvent((m) => eventAbout(BOOKMARKS, ALICE)(m) && eventItems(m).retracts.includes('room1@muc.localhost'), 10_000, 'bookmark retract on own resource');
  // bob is a contact with bookmarks+notify, but the node is a whitelist: he hears nothing and reads nothing (the node looks missing to him)
  assert.deepEqual(await bob.eventsAfterQuiet(eventAbout(BOOKMARKS, ALICE), QUIET_MS), []);
  await assert.rejects(iq(bob.client, itemsIq(BOOKMARKS, { to: ALICE })), (err: Error & { condition?: string }) => err.condition === 'item-not-found');
  // the node configuration says what the client asked for
  const cfg = await iq(alice1.client, ownerIq('get', xml('configure', { node: BOOKMARKS })));
  const values = formValues(cfg.getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('configure'));
  assert.deepEqual(values['pubsub#access_model'], ['whitelist']);
  assert.deepEqual(values['pubsub#send_last_published_item'], ['never']);
});

test('disco on a bare JID: the PEP identity and features, and only the nodes the requester may see', async () => {
  const info = await iq(bob.client, discoIq(NS_DISCO_INFO, ALICE));
  const q = info.getChild('query', NS_DISCO_INFO)!;
  assert.ok(q.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep'), q.toString());
  const features = q.getChildren('feature').map((f) => f.attrs.var as string);
  for (const f of ['publish', 'publish-options', 'auto-create', 'last-published', 'access-whitelist']) assert.ok(features.includes(`${NS_PUBSUB}#${f}`), `missing ${f}`);
  const nodesFor = async (pc: PepClient) => (await iq(pc.client, discoIq(NS_DISCO_ITEMS, ALICE))).getChild('query', NS_DISCO_ITEMS)!.getChildren('item').map((i) => i.attrs.node as string).sort();
  const own = await nodesFor(alice1);
  assert.ok(own.includes(BOOKMARKS) && own.includes(NICK), own.join());
  const forBob = await nodesFor(bob);
  assert.ok(forBob.includes(NICK), forBob.join()); // presence model, bob is a contact
  assert.ok(!forBob.includes(BOOKMARKS), 'whitelist node leaked to a contact');
  const forDave = await nodesFor(dave);
  assert.ok(forDave.includes(DEVICELIST), forDave.join()); // open
  assert.ok(!forDave.includes(NICK) && !forDave.includes(BOOKMARKS), `leaked to a stranger: ${forDave.join()}`);
});
