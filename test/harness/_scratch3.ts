import { Component } from '@xmpp/component-core';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { startProsody } from './prosody';
import { connectClient, iq, closeAll, xml as cxml } from './xmpp-client';
await using p = await startProsody({ users: [{ user: 'alice', password: 'pw' }] });
const alice = await connectClient({ port: p.c2sPort, user: 'alice', password: 'pw', presence: true });
const comp = new Component({ service: `xmpp://127.0.0.1:${p.componentPort}`, domain: p.componentJid });
comp.on('error', (e) => console.log('comp error', e));
comp.on('connect', () => comp.socket!.setNoDelay(true));
comp.on('open', (hdr: Element) => comp.authenticate(hdr.attrs.id!, p.secret).catch((e) => console.log('auth', e)));
const got: Element[] = [];
comp.on('stanza', (el: Element) => {
  got.push(el);
  console.log('IN', el.toString());
  if (el.name === 'iq' && el.attrs.type === 'get' && el.getChild('query', 'http://jabber.org/protocol/disco#info')) {
    const node = el.getChild('query')!.attrs.node;
    comp.send(xml('iq', { type: 'result', id: el.attrs.id, to: el.attrs.from, from: p.componentJid }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node })));
  }
  const del = el.getChild('delegation', 'urn:xmpp:delegation:2');
  if (el.name === 'iq' && del) {
    const inner = del.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('iq')!;
    const reply = xml('iq', { type: 'result', id: el.attrs.id, to: el.attrs.from, from: p.componentJid },
      xml('delegation', { xmlns: 'urn:xmpp:delegation:2' }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' },
        xml('iq', { xmlns: 'jabber:client', type: 'result', id: inner.attrs.id, to: inner.attrs.from, from: inner.attrs.to ?? inner.attrs.from.split('/')[0] }))));
    console.log('OUT', reply.toString());
    comp.send(reply);
  }
});
await comp.start();
await new Promise((r) => setTimeout(r, 300));
const pub = (to?: string) => cxml('iq', { type: 'set', ...(to ? { to } : {}) }, cxml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, cxml('publish', { node: 'urn:xmpp:test' }, cxml('item', { id: 'a' }, cxml('x', { xmlns: 'urn:test' }, 'hi')))));
let t = performance.now();
console.log('RES', (await iq(alice, pub())).toString(), performance.now() - t);
t = performance.now();
console.log('RES', (await iq(alice, pub('alice@localhost'))).toString(), performance.now() - t);
console.log('RES', (await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })))).toString());
console.log('RES', (await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })))).toString());
console.log('RES', (await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: 'urn:xmpp:mam:2', node: 'x' })))).toString());
try { console.log('RES', (await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: 'urn:xmpp:mam:2' })), 1000)).toString()); } catch (e) { console.log('mam no node:', String(e)); }
await closeAll([alice]);
await comp.stop();
