// End-to-end probe of the harness and of Prosody 0.12's XEP-0355/XEP-0356 behaviour, WITHOUT our broker:
// a raw XEP-0114 component written here with @xmpp/component-core plays the managing entity.
//
// Observed on this machine (Prosody 0.12.3, prosody-modules 0.0~hg20230223), where it differs from or
// sharpens what the README says of the two servers ("Switching a server's PEP"):
// - Order on connect: Prosody sends the six disco#info nesting queries (`::` and `:bare:` for pubsub,
//   pubsub#owner and mam:2; none for the two bare-disco pseudo-namespaces) BEFORE the <delegation/> message,
//   in the same TCP segment as the <handshake/> reply: they reach the component before xmpp.js has set
//   `component.jid` (its send() then throws on the missing `from`). Handlers must be live before
//   authentication finishes and must set `from` themselves.
// - The grant advertisement lists the namespaces in Lua `pairs` order (varies between runs), e.g.
//   <message from="localhost" to="pubsub.localhost"><delegation xmlns="urn:xmpp:delegation:2">
//     <delegated namespace="urn:xmpp:delegation:2:bare:disco#items:*"/>
//     <delegated namespace="urn:xmpp:mam:2"><attribute name="node"/></delegated>
//     <delegated namespace="http://jabber.org/protocol/pubsub"/>
//     <delegated namespace="http://jabber.org/protocol/pubsub#owner"/>
//     <delegated namespace="urn:xmpp:delegation:2:bare:disco#info:*"/></delegation></message>
//   (one line on the wire; indented here).
// - The privilege advertisement (no `iq` perm configured, so none sent):
//   <message from="localhost" to="pubsub.localhost"><privilege xmlns="urn:xmpp:privilege:2">
//     <perm access="roster" type="get"/><perm access="message" type="outgoing"/>
//     <perm access="presence" type="roster"/></privilege></message>
//   followed by a copy of every existing session's presence with a <delay from="localhost"/>.
// - A forwarded IQ is NOT exactly "as the client sent it": core_post_stanza (core/stanza_router.lua) strips
//   `to` when it equals the sender's own bare JID, and xml:lang is added. So to='alice@localhost' and no `to`
//   arrive identically:
//   <iq from="localhost" type="set" id="zhqEEV83XxyB" to="pubsub.localhost"><delegation xmlns="urn:xmpp:delegation:2">
//     <forwarded xmlns="urn:xmpp:forward:0"><iq xmlns="jabber:client" from="alice@localhost/xQwZpiKzHSQq" type="set"
//     id="z76dli-1" xml:lang="en"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="urn:xmpp:test">
//     <item id="a"><x xmlns="urn:test">hi</x></item></publish></pubsub></iq></forwarded></delegation></iq>
// - The client receives the inner reply as written (from="alice@localhost", the `xmlns` removed).
// - Silently dropped replies (client hangs; prosody.log: "ignoring invalid iq result from managing entity"):
//   whitespace text anywhere in the wrapper chain, the `urn:xmpp:delegation:1` wrapper, an inner result with
//   two children. service-unavailable ("ignoring forbidden iq result"): wrong inner to/id. Outer type='error':
//   service-unavailable. Wrapped inner error: passed through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Component } from '@xmpp/component-core';
import xml, { type Element } from '@xmpp/xml';
import { readFile } from 'node:fs/promises';
import { startProsody, registerWithProsodyctl, NS_PUBSUB, NS_PUBSUB_OWNER, NS_MAM, NS_BARE_DISCO_INFO, NS_BARE_DISCO_ITEMS, type ProsodyHandle } from './prosody';
import { connectClient, closeAll, iq, IqTimeoutError, StanzaErrorResponse, xml as cxml, type Client } from './xmpp-client';

const NS_DELEGATION = 'urn:xmpp:delegation:2';
const NS_DELEGATION_1 = 'urn:xmpp:delegation:1';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_PRIVILEGE = 'urn:xmpp:privilege:2';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
/** How long a client waits before we call a reply "dropped" (Prosody itself never times out). */
const DROPPED_WAIT_MS = 1_500;
const WAIT_MS = 5_000;

/** Everything the component received, with a bounded wait for what has not arrived yet. */
class Inbox {
  readonly stanzas: Element[] = [];
  private waiters: Array<{ pred: (el: Element) => boolean; resolve: (el: Element) => void }> = [];

  push(el: Element): void {
    this.stanzas.push(el);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(el)) return true;
      w.resolve(el);
      return false;
    });
  }

  async waitFor(pred: (el: Element) => boolean, what: string, timeoutMs = WAIT_MS): Promise<Element> {
    const seen = this.stanzas.find(pred);
    if (seen) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<Element>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`component did not receive ${what} within ${timeoutMs} ms`)), timeoutMs);
        this.waiters.push({ pred, resolve });
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

const forwardedIq = (el: Element, ns = NS_DELEGATION): Element | undefined =>
  el.name === 'iq' ? el.getChild('delegation', ns)?.getChild('forwarded', NS_FORWARD)?.getChild('iq', 'jabber:client') : undefined;

/** XEP-0355 §5 reply wrapper, as protocol-notes §1.4 says both servers accept it. */
function wrapReply(outer: Element, inner: Element, opts: { ns?: string; type?: 'result' | 'error'; children?: Array<Element | string>; to?: string } = {}): Element {
  const requester = inner.attrs.from!;
  return xml('iq', { type: 'result', id: outer.attrs.id, from: outer.attrs.to, to: outer.attrs.from },
    xml('delegation', { xmlns: opts.ns ?? NS_DELEGATION },
      xml('forwarded', { xmlns: NS_FORWARD },
        xml('iq', { xmlns: 'jabber:client', type: opts.type ?? 'result', id: inner.attrs.id, to: opts.to ?? requester, from: inner.attrs.to ?? requester.split('/')[0] },
          ...(opts.children ?? [])))));
}

const publishIq = (node: string, to?: string): Element =>
  cxml('iq', { type: 'set', ...(to ? { to } : {}) },
    cxml('pubsub', { xmlns: NS_PUBSUB }, cxml('publish', { node }, cxml('item', { id: 'i1' }, cxml('x', { xmlns: 'urn:test' }, 'hi')))));

const innerNode = (inner: Element): string | undefined => inner.getChild('pubsub', NS_PUBSUB)?.getChild('publish')?.attrs.node;

describe('Prosody 0.12 mod_delegation + mod_privilege, probed with a raw component', () => {
  let prosody: ProsodyHandle;
  let alice: Client;
  let comp: Component | undefined;
  const inbox = new Inbox();
  /** Per-publish-node reply behaviour; the default is a correct wrapper around an empty result. */
  const onForward = new Map<string, (outer: Element, inner: Element) => Promise<void>>();

  before(async () => {
    let t = performance.now();
    prosody = await startProsody({ users: [{ user: 'alice', password: 'pw' }] });
    const startMs = performance.now() - t;
    t = performance.now();
    alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: 'pw', resource: 'probe', presence: true });
    const loginMs = performance.now() - t;
    console.error(`# prosody start ${startMs.toFixed(0)} ms, PLAIN login ${loginMs.toFixed(0)} ms`);
  });

  after(async () => {
    await closeAll([alice]);
    await comp?.stop().catch(() => undefined);
    comp?.socket?.destroy();
    await prosody?.stop();
  });

  async function componentOnline(): Promise<Component> {
    if (comp) return comp;
    const c = new Component({ service: `xmpp://127.0.0.1:${prosody.componentPort}`, domain: prosody.componentJid });
    comp = c;
    const send = (el: Element) => c.send(el).catch((err: unknown) => console.error('component send failed', err));
    c.on('error', () => undefined); // surfaced through start()/assertions instead
    c.on('connect', () => c.socket!.setNoDelay(true)); // protocol-notes §4: Nagle costs ~40 ms per second write
    // XEP-0114 §3: the handshake is SHA1(stream id + secret); the id is on the stream header.
    c.on('open', (header: Element) => { c.authenticate(header.attrs.id!, prosody.secret).catch(() => undefined); });
    c.on('stanza', (el: Element) => {
      inbox.push(el);
      const query = el.getChild('query', NS_DISCO_INFO);
      if (el.name === 'iq' && el.attrs.type === 'get' && query) {
        // Disco nesting (XEP-0355 §7.2): echo the node. `from` set by hand: c.jid is still null here.
        const node = query.attrs.node ?? '';
        const bare = node.startsWith(`${NS_DELEGATION}:bare:`);
        void send(xml('iq', { type: 'result', id: el.attrs.id, from: prosody.componentJid, to: el.attrs.from },
          xml('query', { xmlns: NS_DISCO_INFO, node },
            bare && node.endsWith(NS_PUBSUB) ? [xml('identity', { category: 'pubsub', type: 'pep' }), xml('feature', { var: NS_PUBSUB })] : [])));
        return;
      }
      const inner = forwardedIq(el);
      if (!inner) return;
      const custom = onForward.get(innerNode(inner) ?? '');
      if (custom) void custom(el, inner);
      else void send(wrapReply(el, inner));
    });
    await c.start();
    return c;
  }

  test('harness: accounts written by the harness and by prosodyctl both log in with PLAIN', async () => {
    let t = performance.now();
    await registerWithProsodyctl(prosody.configPath, 'bob', 'pw2');
    const ctlMs = performance.now() - t;
    t = performance.now();
    await prosody.register('carol', 'pw3');
    const directMs = performance.now() - t;
    console.error(`# register: prosodyctl ${ctlMs.toFixed(0)} ms, direct write ${directMs.toFixed(1)} ms`);
    const clients = await Promise.all([
      connectClient({ port: prosody.c2sPort, user: 'bob', password: 'pw2' }),
      connectClient({ port: prosody.c2sPort, user: 'carol', password: 'pw3' }),
    ]);
    assert.deepEqual(clients.map((c) => c.jid?.bare().toString()), ['bob@localhost', 'carol@localhost']);
    await closeAll(clients);
    await assert.rejects(connectClient({ port: prosody.c2sPort, user: 'carol', password: 'wrong' }), /not-authorized/);
  });

  test('no component connected: a delegated IQ gets service-unavailable at once', async () => {
    assert.equal(comp, undefined, 'must run before the component connects');
    await assert.rejects(iq(alice, publishIq('urn:xmpp:test'), WAIT_MS), (err: unknown) => {
      assert.ok(err instanceof StanzaErrorResponse);
      assert.equal(err.condition, 'service-unavailable');
      assert.equal(err.type, 'cancel');
      return true;
    });
  });

  test('(a) the component receives the delegation grant, with the filtering attribute for mam', async () => {
    await componentOnline();
    const msg = await inbox.waitFor((el) => el.name === 'message' && !!el.getChild('delegation', NS_DELEGATION), 'a <delegation/> message');
    assert.equal(msg.attrs.from, 'localhost');
    assert.equal(msg.attrs.to, prosody.componentJid);
    const delegated = msg.getChild('delegation', NS_DELEGATION)!.getChildren('delegated');
    const grants = new Map(delegated.map((d) => [d.attrs.namespace, d.getChildren('attribute').map((a) => a.attrs.name)]));
    assert.deepEqual(
      [...grants.keys()].sort(),
      [NS_PUBSUB, NS_PUBSUB_OWNER, NS_MAM, NS_BARE_DISCO_INFO, NS_BARE_DISCO_ITEMS].sort(),
    );
    assert.deepEqual(grants.get(NS_MAM), ['node']);
    assert.deepEqual(grants.get(NS_PUBSUB), []);
  });

  test('(b) disco#info nesting queries arrive for :: and :bare: of each real namespace, before the grant', async () => {
    await componentOnline();
    await inbox.waitFor((el) => el.name === 'message' && !!el.getChild('delegation', NS_DELEGATION), 'the grant');
    const queries = inbox.stanzas.filter((el) => el.name === 'iq' && el.attrs.type === 'get' && el.getChild('query', NS_DISCO_INFO));
    const nodes = queries.map((q) => q.getChild('query', NS_DISCO_INFO)!.attrs.node).sort();
    const expected = [NS_PUBSUB, NS_PUBSUB_OWNER, NS_MAM].flatMap((ns) => [`${NS_DELEGATION}::${ns}`, `${NS_DELEGATION}:bare:${ns}`]).sort();
    assert.deepEqual(nodes, expected, 'no nesting queries for the bare-disco pseudo-namespaces');
    for (const q of queries) assert.equal(q.attrs.from, 'localhost');
    const grantIndex = inbox.stanzas.findIndex((el) => el.name === 'message' && !!el.getChild('delegation', NS_DELEGATION));
    assert.ok(inbox.stanzas.indexOf(queries.at(-1)!) < grantIndex, 'Prosody asks for disco before advertising');

    // The bare-JID features we answered are merged into the account's disco#info (once Prosody has read
    // our answers, which can come after the grant: poll for a bounded time).
    let info = await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_DISCO_INFO })));
    for (let i = 0; i < 50 && !info.getChild('query', NS_DISCO_INFO)!.getChildren('feature').some((f) => f.attrs.var === NS_PUBSUB); i++) {
      await new Promise((r) => setTimeout(r, 100));
      info = await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_DISCO_INFO })));
    }
    const q = info.getChild('query', NS_DISCO_INFO)!;
    assert.ok(q.getChildren('feature').some((f) => f.attrs.var === NS_PUBSUB), info.toString());
    assert.ok(q.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep'), info.toString());
  });

  test('(b2) bare-JID disco pseudo-namespaces: node-less disco#items and unknown-node disco#info are forwarded', async () => {
    await componentOnline();
    await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_DISCO_ITEMS })));
    await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_DISCO_INFO, node: 'urn:xmpp:avatar:data' })));
    const fwd = inbox.stanzas.map((el) => forwardedIq(el)).filter((x): x is Element => !!x);
    assert.ok(fwd.some((i) => i.getChild('query', NS_DISCO_ITEMS) && !i.getChild('query')!.attrs.node));
    assert.ok(fwd.some((i) => i.getChild('query', NS_DISCO_INFO)?.attrs.node === 'urn:xmpp:avatar:data'));
    // mam:2 without the filtering attribute is not delegated (no mod_mam here: Prosody answers itself).
    await assert.rejects(iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_MAM }))), /service-unavailable/);
    await iq(alice, cxml('iq', { type: 'get', to: 'alice@localhost' }, cxml('query', { xmlns: NS_MAM, node: 'urn:xmpp:microblog:0' })));
  });

  test('(c) a PEP publish arrives as a forwarded IQ; a correct wrapper reaches the client', async () => {
    await componentOnline();
    for (const to of [undefined, 'alice@localhost']) {
      const node = `urn:xmpp:probe:${to ? 'bare' : 'noto'}`;
      const res = await iq(alice, publishIq(node, to), WAIT_MS);
      assert.equal(res.attrs.type, 'result');
      assert.equal(res.attrs.from, 'alice@localhost');
      const outer = inbox.stanzas.find((el) => { const i = forwardedIq(el); return !!i && innerNode(i) === node; });
      assert.ok(outer, `forward for ${node}`);
      assert.equal(outer.attrs.from, 'localhost');
      assert.equal(outer.attrs.to, prosody.componentJid);
      assert.equal(outer.attrs.type, 'set');
      const inner = forwardedIq(outer)!;
      assert.equal(inner.attrs.type, 'set');
      assert.equal(inner.attrs.id, res.attrs.id);
      assert.equal(inner.attrs.from, alice.jid!.toString());
      // Both spellings arrive WITHOUT `to`: core_post_stanza strips a `to` equal to the sender's bare JID.
      assert.equal(inner.attrs.to, undefined, `inner to for client to=${to}`);
      assert.equal(inner.attrs['xml:lang'], 'en');
      assert.equal(innerNode(inner), node);
    }
  });

  test('(c2) a wrapped inner type=error is passed through to the client', async () => {
    await componentOnline();
    onForward.set('trap:inner-error', async (outer, inner) => {
      await comp!.send(wrapReply(outer, inner, { type: 'error', children: [xml('error', { type: 'auth' }, xml('forbidden', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))] }));
    });
    await assert.rejects(iq(alice, publishIq('trap:inner-error'), WAIT_MS), (err: unknown) => {
      assert.ok(err instanceof StanzaErrorResponse);
      assert.deepEqual([err.condition, err.type], ['forbidden', 'auth']);
      return true;
    });
  });

  test('(d) whitespace, the other delegation version or a 2-child result: Prosody drops the reply, client hangs', async () => {
    await componentOnline();
    const traps: Record<string, (outer: Element, inner: Element) => Element> = {
      // "\n" between <iq> and <delegation>: #stanza == 2 in mod_delegation's managing_ent_result
      'trap:whitespace-outer': (o, i) => { const r = wrapReply(o, i); r.children.unshift('\n  '); return r; },
      'trap:whitespace-forwarded': (o, i) => { const r = wrapReply(o, i); r.getChild('delegation')!.getChild('forwarded')!.children.push(' '); return r; },
      'trap:delegation-1': (o, i) => wrapReply(o, i, { ns: NS_DELEGATION_1 }),
      'trap:two-children': (o, i) => wrapReply(o, i, { children: [xml('pubsub', { xmlns: NS_PUBSUB }), xml('x', { xmlns: 'urn:test' })] }),
    };
    for (const [node, build] of Object.entries(traps)) onForward.set(node, async (o, i) => { await comp!.send(build(o, i)); });
    const started = performance.now();
    const outcomes = await Promise.all(Object.keys(traps).map((node) => iq(alice, publishIq(node), DROPPED_WAIT_MS).then(() => 'answered', (err: unknown) => err)));
    assert.ok(performance.now() - started < DROPPED_WAIT_MS + 1_000, 'bounded wait');
    for (const [i, node] of Object.keys(traps).entries()) {
      assert.ok(outcomes[i] instanceof IqTimeoutError, `${node}: expected silence, got ${String(outcomes[i])}`);
    }
    const log = await readFile(prosody.logPath, 'utf8');
    assert.ok((log.match(/ignoring invalid iq result from managing entity/g) ?? []).length >= Object.keys(traps).length);
  });

  test('(d2) wrong inner to, or an outer type=error: Prosody answers service-unavailable', async () => {
    await componentOnline();
    onForward.set('trap:wrong-to', async (o, i) => { await comp!.send(wrapReply(o, i, { to: 'mallory@localhost/x' })); });
    onForward.set('trap:outer-error', async (o) => {
      await comp!.send(xml('iq', { type: 'error', id: o.attrs.id, from: o.attrs.to, to: o.attrs.from },
        xml('error', { type: 'cancel' }, xml('service-unavailable', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))));
    });
    for (const node of ['trap:wrong-to', 'trap:outer-error']) {
      await assert.rejects(iq(alice, publishIq(node), WAIT_MS), (err: unknown) => {
        assert.ok(err instanceof StanzaErrorResponse, `${node}: ${String(err)}`);
        assert.equal(err.condition, 'service-unavailable');
        return true;
      });
    }
  });

  test('(e) privilege advertisement, presence forwarding, roster get and a privileged message', async () => {
    const c = await componentOnline();
    const msg = await inbox.waitFor((el) => el.name === 'message' && !!el.getChild('privilege', NS_PRIVILEGE), 'a <privilege/> message');
    assert.equal(msg.attrs.from, 'localhost');
    const perms = msg.getChild('privilege', NS_PRIVILEGE)!.getChildren('perm').map((p) => `${p.attrs.access}=${p.attrs.type}`).sort();
    assert.deepEqual(perms, ['message=outgoing', 'presence=roster', 'roster=get']);
    // presence=roster: the already-connected session's presence is replayed (with <delay/>).
    const pres = await inbox.waitFor((el) => el.name === 'presence' && el.attrs.from === alice.jid!.toString(), "alice's presence");
    assert.equal(pres.attrs.to, prosody.componentJid);

    // roster get on behalf of alice (plain IQ from the component)
    const rosterId = 'roster-1';
    const rosterAnswer = inbox.waitFor((el) => el.name === 'iq' && el.attrs.id === rosterId, 'the roster answer');
    await c.send(xml('iq', { type: 'get', id: rosterId, from: prosody.componentJid, to: 'alice@localhost' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    const roster = await rosterAnswer;
    assert.equal(roster.attrs.type, 'result', roster.toString());
    assert.ok(roster.getChild('query', 'jabber:iq:roster'));

    // a PEP notification sent from alice's bare JID to her own available resource
    const got = new Promise<Element>((resolve) => {
      const onStanza = (el: Element) => {
        if (el.name === 'message' && el.getChild('event', 'http://jabber.org/protocol/pubsub#event')) { alice.off('stanza', onStanza); resolve(el); }
      };
      alice.on('stanza', onStanza);
    });
    await c.send(xml('message', { from: prosody.componentJid, to: 'localhost' },
      xml('privilege', { xmlns: NS_PRIVILEGE }, xml('forwarded', { xmlns: NS_FORWARD },
        xml('message', { xmlns: 'jabber:client', from: 'alice@localhost', to: alice.jid!.toString(), type: 'headline' },
          xml('event', { xmlns: 'http://jabber.org/protocol/pubsub#event' }, xml('items', { node: 'urn:xmpp:probe' }, xml('item', { id: 'n1' }))))))));
    let timer: NodeJS.Timeout | undefined;
    const note = await Promise.race([got, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no privileged message')), WAIT_MS); })]);
    clearTimeout(timer);
    assert.equal(note.attrs.from, 'alice@localhost');
  });

  test('(f) component reconnect: service-unavailable while away; grant re-sent, disco nesting NOT re-asked', async () => {
    const first = await componentOnline();
    await first.stop();
    comp = undefined;
    // mod_delegation never clears `connected` on disconnect: the IQ is still forwarded, the component host
    // bounces it, and the bounce becomes service-unavailable for the client.
    await assert.rejects(iq(alice, publishIq('urn:xmpp:probe:away'), WAIT_MS), (err: unknown) => {
      assert.ok(err instanceof StanzaErrorResponse, String(err));
      assert.equal(err.condition, 'service-unavailable');
      return true;
    });
    const before = inbox.stanzas.length;
    await componentOnline();
    const fresh = () => inbox.stanzas.slice(before);
    await inbox.waitFor((el) => inbox.stanzas.indexOf(el) >= before && el.name === 'message' && !!el.getChild('delegation', NS_DELEGATION), 'a second grant');
    await inbox.waitFor((el) => inbox.stanzas.indexOf(el) >= before && el.name === 'message' && !!el.getChild('privilege', NS_PRIVILEGE), 'a second privilege advertisement');
    await new Promise((r) => setTimeout(r, 300));
    const nesting = fresh().filter((el) => el.name === 'iq' && el.getChild('query', NS_DISCO_INFO) && !forwardedIq(el));
    assert.equal(nesting.length, 0, 'set_connected() only runs disco_nest when `connected` was nil, i.e. on the first connection');
    const res = await iq(alice, publishIq('urn:xmpp:probe:back'), WAIT_MS);
    assert.equal(res.attrs.type, 'result');
  });
});
