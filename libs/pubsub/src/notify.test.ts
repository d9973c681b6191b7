import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { parseXml } from '@dbroker/protocol';
import type { Affiliation } from './access';
import { buildConfig, DEFAULT_NODE_CONFIG, type NodeConfig } from './config';
import type { PubsubEffect, PubsubItem } from './engine';
import { announcesToAudience, lastItemTargets, planLastItemMessages, planNotifications, type AudienceContact, type NotificationAudience } from './notify';

const OWNER = 'juliet@capulet.lit';
const NODE = 'urn:xmpp:mood';
const MOOD = `<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>`;
const AT = new Date('2026-11-24T05:00:00.000Z');
const opts = { makeId: (to: string) => `id-${to}` };

function canon(el: Element | string): string {
  if (typeof el === 'string') return el.trim() === '' ? '' : xml.escapeXMLText(el);
  const attrs = Object.entries(el.attrs)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => ` ${k}="${xml.escapeXML(String(v))}"`)
    .join('');
  return `<${el.name}${attrs}>${el.children.map(canon).join('')}</${el.name}>`;
}
const same = (actual: string, expected: string) => assert.equal(canon(parseXml(actual)), canon(parseXml(expected)));

const contact = (fullJid: string, subscription: AudienceContact['subscription'], groups: string[] = [], notify: string[] = [NODE]): AudienceContact => ({
  fullJid,
  subscription,
  groups,
  notifyNodes: new Set(notify),
});

const published = (config: Partial<NodeConfig> = {}): PubsubEffect => ({
  type: 'published',
  service: OWNER,
  node: NODE,
  config: buildConfig(config),
  seq: 7,
  itemId: 'current',
  payload: MOOD,
  publisher: `${OWNER}/balcony`,
  at: AT,
});

const audience = (over: Partial<NotificationAudience> = {}): NotificationAudience => ({
  ownerResources: [`${OWNER}/balcony`, `${OWNER}/chamber`],
  subscribers: [],
  contacts: [
    contact('romeo@montague.lit/orchard', 'both', ['Lovers']),
    contact('nurse@capulet.lit/kitchen', 'from', ['Family']),
    contact('nurse@capulet.lit/garden', 'from', ['Family'], ['urn:other']),
    contact('tybalt@capulet.lit/street', 'to', ['Family']),
    contact('mercutio@verona.lit/x', 'none'),
  ],
  ...over,
});

const recipients = (effect: PubsubEffect, a: NotificationAudience) => planNotifications(effect, a, opts).map((m) => m.to);

describe('planNotifications (XEP-0163 §4, XEP-0060 §7.1.2)', () => {
  test('a publish on a presence node: the owner’s resources and contacts with from/both and +notify', () => {
    const msgs = planNotifications(published(), audience(), opts);
    assert.deepEqual(
      msgs.map((m) => m.to),
      [`${OWNER}/balcony`, `${OWNER}/chamber`, 'romeo@montague.lit/orchard', 'nurse@capulet.lit/kitchen'],
    );
    same(
      msgs[2]!.element.toString(),
      `<message xmlns='jabber:client' from='${OWNER}' to='romeo@montague.lit/orchard' type='headline' id='id-romeo@montague.lit/orchard'>` +
        `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${NODE}'><item id='current'>${MOOD}</item></items></event></message>`,
    );
  });

  test('access models decide who of the contacts hears; outcasts never; open needs only +notify', () => {
    const others = (config: Partial<NodeConfig>, a = audience()) => recipients(published(config), a).filter((to) => !to.startsWith(OWNER));
    assert.deepEqual(others({ access_model: 'open' }), ['romeo@montague.lit/orchard', 'nurse@capulet.lit/kitchen', 'tybalt@capulet.lit/street', 'mercutio@verona.lit/x']);
    assert.deepEqual(others({ access_model: 'roster', roster_groups_allowed: ['Family'] }), ['nurse@capulet.lit/kitchen', 'tybalt@capulet.lit/street']);
    assert.deepEqual(others({ access_model: 'whitelist' }), []);
    const affiliations = new Map<string, Affiliation>([
      ['mercutio@verona.lit', 'member'],
      ['romeo@montague.lit', 'outcast'],
    ]);
    assert.deepEqual(others({ access_model: 'whitelist' }, audience({ affiliations })), ['mercutio@verona.lit/x']);
    assert.deepEqual(others({ access_model: 'open' }, audience({ affiliations })), ['nurse@capulet.lit/kitchen', 'tybalt@capulet.lit/street', 'mercutio@verona.lit/x']);
  });

  test('explicit subscribers: SubID header, still subject to access; a bare subscription covers its resources; one message per address', () => {
    const a = audience({
      subscribers: [
        { jid: 'romeo@montague.lit', subid: 's-romeo' },
        { jid: 'benvolio@montague.lit/x', subid: 's-benvolio' },
        { jid: 'paris@verona.lit', subid: 's-paris' },
        { jid: `${OWNER}`, subid: 's-owner' },
        { jid: `${OWNER}/balcony`, subid: 's-owner-balcony' },
      ],
      roster: [
        { jid: 'romeo@montague.lit', subscription: 'both', groups: [] },
        { jid: 'benvolio@montague.lit', subscription: 'from', groups: [] },
      ],
    });
    const msgs = planNotifications(published(), a, opts);
    assert.deepEqual(
      msgs.map((m) => m.to),
      [`${OWNER}/balcony`, `${OWNER}/chamber`, 'romeo@montague.lit', 'benvolio@montague.lit/x', 'nurse@capulet.lit/kitchen'],
    );
    same(
      msgs[2]!.element.toString(),
      `<message xmlns='jabber:client' from='${OWNER}' to='romeo@montague.lit' type='headline' id='id-romeo@montague.lit'>` +
        `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${NODE}'><item id='current'>${MOOD}</item></items></event>` +
        `<headers xmlns='http://jabber.org/protocol/shim'><header name='SubID'>s-romeo</header></headers></message>`,
    );
  });

  test('deliver_payloads off: the item without payload; itemPublisher adds the publisher', () => {
    const [m] = planNotifications(published({ deliver_payloads: false }), audience({ contacts: [] }), opts);
    same(
      m!.element.toString(),
      `<message xmlns='jabber:client' from='${OWNER}' to='${OWNER}/balcony' type='headline' id='id-${OWNER}/balcony'>` +
        `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${NODE}'><item id='current'/></items></event></message>`,
    );
    const [p] = planNotifications(published(), audience({ contacts: [] }), { ...opts, itemPublisher: true });
    assert.match(p!.element.toString(), new RegExp(`<item id="current" publisher="${OWNER}">`));
  });

  test('retract only when notify; delete (with redirect) and purge per notify_delete; configuration per notify_config', () => {
    const config = buildConfig();
    const base = { service: OWNER, node: NODE, seq: 9, at: AT };
    const solo = audience({ ownerResources: [`${OWNER}/balcony`], contacts: [] });
    const one = (effect: PubsubEffect) => planNotifications(effect, solo, opts).map((m) => parseXml(m.element.toString()).getChild('event')?.getChildElements()[0]?.toString());
    assert.deepEqual(one({ ...base, type: 'retracted', config, itemId: 'x', notify: true }), [`<items node="${NODE}"><retract id="x"/></items>`]);
    assert.deepEqual(one({ ...base, type: 'retracted', config, itemId: 'x', notify: false }), []);
    assert.deepEqual(one({ ...base, type: 'node-deleted', config, redirect: 'xmpp:a@b?;node=c', subscribers: [] }), [`<delete node="${NODE}"><redirect uri="xmpp:a@b?;node=c"/></delete>`]);
    assert.deepEqual(one({ ...base, type: 'node-deleted', config: buildConfig({ notify_delete: false }), subscribers: [] }), []);
    assert.deepEqual(one({ ...base, type: 'purged', config }), [`<purge node="${NODE}"/>`]);
    assert.deepEqual(one({ type: 'config-changed', service: OWNER, node: NODE, config, previous: config, at: AT }), []);
    assert.deepEqual(one({ type: 'config-changed', service: OWNER, node: NODE, config: buildConfig({ notify_config: true }), previous: config, at: AT }), [`<configuration node="${NODE}"/>`]);
    // a deleted node's former subscribers come from the effect
    const deleted = planNotifications({ ...base, type: 'node-deleted', config: buildConfig({ access_model: 'open' }), subscribers: [{ jid: 'x@y.z', subid: 'sx' }] }, solo, opts);
    assert.deepEqual(
      deleted.map((m) => m.to),
      [`${OWNER}/balcony`, 'x@y.z'],
    );
    assert.match(deleted[1]!.element.toString(), /<header name="SubID">sx<\/header>/);
    assert.deepEqual(one({ type: 'node-created', service: OWNER, node: NODE, config }), []);
  });

  test('subscribed: the last item to the new subscriber, with delay and SubID', () => {
    const item: PubsubItem = { id: 'current', payload: MOOD, publisher: `${OWNER}/balcony`, publishedAt: AT, seq: 3 };
    const effect: PubsubEffect = {
      type: 'subscribed',
      service: OWNER,
      node: NODE,
      config: buildConfig(),
      subscription: { node: NODE, jid: 'romeo@montague.lit/orchard', subid: 's1', state: 'subscribed' },
      created: true,
      lastItem: item,
    };
    const msgs = planNotifications(effect, audience(), opts);
    assert.equal(msgs.length, 1);
    same(
      msgs[0]!.element.toString(),
      `<message xmlns='jabber:client' from='${OWNER}' to='romeo@montague.lit/orchard' type='headline' id='id-romeo@montague.lit/orchard'>` +
        `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${NODE}'><item id='current'>${MOOD}</item></items></event>` +
        `<delay xmlns='urn:xmpp:delay' from='${OWNER}' stamp='2026-11-24T05:00:00.000Z'/>` +
        `<headers xmlns='http://jabber.org/protocol/shim'><header name='SubID'>s1</header></headers></message>`,
    );
    assert.deepEqual(planNotifications({ ...effect, lastItem: undefined }, audience(), opts), []);
  });
});

describe('last items on initial presence (XEP-0163 §4.3.3)', () => {
  const item = (id: string): PubsubItem => ({ id, payload: MOOD, publisher: OWNER, publishedAt: AT, seq: 1 });
  const nodes = [
    { node: NODE, config: buildConfig(), lastItem: item('m') },
    { node: 'urn:xmpp:tune', config: buildConfig({ send_last_published_item: 'on_sub' }), lastItem: item('t') },
    { node: 'urn:xmpp:avatar', config: buildConfig({ access_model: 'open' }), lastItem: item('a') },
    { node: 'urn:xmpp:empty', config: buildConfig({ access_model: 'open' }) },
    { node: 'urn:xmpp:family', config: buildConfig({ access_model: 'roster', roster_groups_allowed: ['Family'] }), lastItem: item('f') },
    { node: 'urn:xmpp:secret', config: buildConfig({ access_model: 'whitelist' }), lastItem: item('s') },
  ];
  const allNotify = ['urn:xmpp:mood', 'urn:xmpp:tune', 'urn:xmpp:avatar', 'urn:xmpp:empty', 'urn:xmpp:family', 'urn:xmpp:secret'];
  const targets = (c: AudienceContact, affiliations?: ReadonlyMap<string, ReadonlyMap<string, Affiliation>>) =>
    lastItemTargets({ owner: OWNER, contact: c, nodes, affiliations }).map((t) => `${t.node} ${t.item.id}`);

  test('on_sub_and_presence nodes with an item, in the +notify set, readable by the contact', () => {
    assert.deepEqual(targets(contact('nurse@capulet.lit/kitchen', 'from', ['Family'], allNotify)), ['urn:xmpp:mood m', 'urn:xmpp:avatar a', 'urn:xmpp:family f']);
    assert.deepEqual(targets(contact('romeo@montague.lit/orchard', 'both', [], ['urn:xmpp:avatar'])), ['urn:xmpp:avatar a']);
    assert.deepEqual(targets(contact('paris@verona.lit/x', 'to', [], allNotify)), ['urn:xmpp:avatar a']);
    const members = new Map([['urn:xmpp:secret', new Map<string, Affiliation>([['paris@verona.lit', 'member']])]]);
    assert.deepEqual(targets(contact('paris@verona.lit/x', 'to', [], allNotify), members), ['urn:xmpp:avatar a', 'urn:xmpp:secret s']);
    // the owner's own resources read everything
    assert.deepEqual(targets(contact(`${OWNER}/chamber`, 'none', [], allNotify)), ['urn:xmpp:mood m', 'urn:xmpp:avatar a', 'urn:xmpp:family f', 'urn:xmpp:secret s']);
  });

  test('as messages with the publication time', () => {
    const msgs = planLastItemMessages({ owner: OWNER, contact: contact('romeo@montague.lit/orchard', 'both', [], [NODE]), nodes }, opts);
    assert.equal(msgs.length, 1);
    same(
      msgs[0]!.element.toString(),
      `<message xmlns='jabber:client' from='${OWNER}' to='romeo@montague.lit/orchard' type='headline' id='id-romeo@montague.lit/orchard'>` +
        `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${NODE}'><item id='m'>${MOOD}</item></items></event>` +
        `<delay xmlns='urn:xmpp:delay' from='${OWNER}' stamp='2026-11-24T05:00:00.000Z'/></message>`,
    );
  });
});

test('announcesToAudience: only effects that carry an event for the node audience', () => {
  const config = { ...DEFAULT_NODE_CONFIG };
  const base = { service: 'o@example.org', node: 'n', config, seq: 1, at: new Date() };
  assert.equal(announcesToAudience({ ...base, type: 'published', itemId: 'i', payload: '<x xmlns="u"/>', publisher: 'o@example.org/r' }), true);
  assert.equal(announcesToAudience({ ...base, type: 'retracted', itemId: 'i', notify: false }), false);
  assert.equal(announcesToAudience({ ...base, type: 'retracted', itemId: 'i', notify: true }), true);
  assert.equal(announcesToAudience({ ...base, type: 'purged' }), true);
  assert.equal(announcesToAudience({ ...base, type: 'purged', config: { ...config, notify_delete: false } }), false);
  assert.equal(announcesToAudience({ type: 'config-changed', service: 'o@example.org', node: 'n', config, previous: config, at: new Date() }), false);
  assert.equal(announcesToAudience({ type: 'node-created', service: 'o@example.org', node: 'n', config }), false);
});
