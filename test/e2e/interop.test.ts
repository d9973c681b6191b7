import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import xml, { type Element } from '@xmpp/xml';
import { startXmppServer, XMPP_SERVER_KINDS, type XmppServerHandle, type XmppServerKind } from '../harness/xmpp-server';
import { connectClient, iq, closeAll, StanzaErrorResponse, IqTimeoutError, type Client, expectStanzaError } from '../harness/xmpp-client';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { eventually, sleep, sqlRows as sqlRowsOf } from '../harness/wait';
import { connectPepClient, eventAbout, eventItems, type PepClient } from '../harness/pep-client';
import { itemsIq, publishIq, resultItemIds, retractIq } from '../harness/pubsub-iq';
import { mamQuery } from '../harness/mam-query';

// The same client-visible scenarios against both servers the broker supports: Prosody 0.12
// (mod_delegation :2, privileges :2, filtering honoured, no `to` kept) and ejabberd 23.01 (delegation :1,
// privileges :1, no filtering, activation only after disco nesting answers, `to` always filled in).
// One server, database and broker stack (separate processes) per kind, started once.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const MAM = 'urn:xmpp:mam:2';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const REQUEST_TIMEOUT_MS = 1500;
/** What a client may wait at most for a broker-made error: the request bound plus slack for a loaded CI host. */
const ANSWER_BOUND_MS = REQUEST_TIMEOUT_MS + 1500;
const PW = 'pw';
/** How long a disco-nesting answer waits for a worker kind that is down (default 15 s; ejabberd waits 32 s). */
const FEATURES_WAIT_MS = 1500;
/** How long a resource counts as online after its last presence (short here: one test waits for it). */
const PRESENCE_TTL_MS = 10_000;

let idn = 0;
const nextId = (p: string) => `${p}-${++idn}`;
const tune = (title: string) => xml('tune', { xmlns: 'http://jabber.org/protocol/tune' }, xml('title', {}, title));

const titleOf = (res: Element, id: string) =>
  res.getChild('pubsub', PUBSUB)!.getChild('items')!.getChildren('item').find((i) => i.attrs.id === id)?.getChild('tune')?.getChildText('title');

const expectError = (p: Promise<unknown>, condition: string, boundMs = ANSWER_BOUND_MS) => expectStanzaError(p, condition, boundMs);

/**
 * Like iq(), but matches the answer on id alone: addressed as `ALICE@LocalHost`, Prosody answers from the
 * normalized `alice@localhost` (which iq() would not take as the answer), ejabberd from the spelling sent.
 */
async function iqById(c: Client, el: Element, timeoutMs = ANSWER_BOUND_MS): Promise<Element> {
  const id = el.attrs.id!;
  return await new Promise<Element>((resolve, reject) => {
    const timer = setTimeout(() => { c.removeListener('stanza', on); reject(new IqTimeoutError(id, timeoutMs)); }, timeoutMs);
    const on = (st: Element) => {
      if (st.name !== 'iq' || st.attrs.id !== id || (st.attrs.type !== 'result' && st.attrs.type !== 'error')) return;
      clearTimeout(timer);
      c.removeListener('stanza', on);
      if (st.attrs.type === 'error') reject(StanzaErrorResponse.fromStanza(st));
      else resolve(st);
    };
    c.on('stanza', on);
    c.send(el).catch((err: unknown) => { clearTimeout(timer); c.removeListener('stanza', on); reject(err); });
  });
}


for (const kind of XMPP_SERVER_KINDS) {
  describe(`interop: ${kind}`, () => {
    let server: XmppServerHandle;
    let stack: BrokerStack;
    let db: TempDatabase;
    let sql: import('pg').Pool;
    let alice: Client;
    let bob: Client;
    /** No roster relation with anyone: a stranger. */
    let carol: Client;
    const sqlRows = (text: string, values: unknown[] = []) => sqlRowsOf(sql, text, values);

    before(async () => {
      server = await startXmppServer(kind as XmppServerKind, {
        users: [{ user: 'alice', password: PW }, { user: 'bob', password: PW }, { user: 'carol', password: PW }],
        rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both', name: 'Bob', groups: ['friends'] }], bob: [{ jid: 'alice@localhost', subscription: 'both' }] },
      });
      db = await createTempDatabase('dbroker_interop');
      sql = new pg.Pool({ connectionString: db.url, max: 3 });
      stack = await startBrokerStack({
        prosody: server, mode: 'separate', databaseUrl: db.url, requestTimeoutMs: REQUEST_TIMEOUT_MS,
        serviceEnv: { ingress: { FEATURES_WAIT_MS: String(FEATURES_WAIT_MS) }, pep: { PRESENCE_TTL_MS: String(PRESENCE_TTL_MS) } },
      });
      for (const ns of [PUBSUB, MAM]) {
        await eventually(async () => (await sqlRows('select 1 from grants where namespace = $1', [ns])).length > 0, 15_000, `grant ${ns}`);
      }
      const login = (user: string) => connectClient({ port: server.c2sPort, user, password: PW });
      [alice, bob, carol] = await Promise.all([login('alice'), login('bob'), login('carol')]);
    });

    after(async () => {
      await closeAll([alice, bob, carol].filter(Boolean));
      await stack?.stop();
      await sql?.end();
      await db?.drop();
      await server?.stop();
    });

    test('the server announced delegation and privileges in its own version', async () => {
      const grant = await sqlRows(`select payload from events where type = 'grant.advertised' limit 1`);
      assert.equal(grant[0]?.payload.version, server.traits.delegationNs);
      const priv = await eventually(async () => (await sqlRows(`select payload from events where type = 'privilege.advertised' limit 1`))[0], 10_000, 'privilege.advertised');
      assert.equal(priv.payload.version, server.traits.privilegeNs);
      assert.equal(priv.payload.perms.message, 'outgoing');
    });

    test('the harness wrote the rosters the server serves (for notification suites)', async () => {
      const res = await iq(alice, xml('iq', { type: 'get', id: nextId('roster') }, xml('query', { xmlns: 'jabber:iq:roster' })));
      const items = res.getChild('query', 'jabber:iq:roster')!.getChildren('item');
      assert.deepEqual(items.map((i) => [i.attrs.jid, i.attrs.subscription, i.attrs.name, i.getChildText('group')]), [['bob@localhost', 'both', 'Bob', 'friends']]);
    });

    test('a user publishes to their own PEP node and reads it back, with and without `to`', async () => {
      const node = 'urn:xmpp:interop:tune';
      const res = await iq(alice, publishIq(node, 'song1', tune('first'), { to: 'alice@localhost' }));
      assert.equal(res.getChild('pubsub', PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id, 'song1');
      const res2 = await iq(alice, publishIq(node, undefined, tune('second')));
      const generated = res2.getChild('pubsub', PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id;
      assert.ok(generated, 'a generated item id is returned');
      assert.deepEqual(resultItemIds(await iq(alice, itemsIq(node))), [generated], 'max_items 1 by default: the newest replaced the first');
      assert.equal(titleOf(await iq(alice, itemsIq(node, { to: 'alice@localhost' })), generated), 'second');
    });

    test('another user reads an open node; a presence node is refused to a stranger; retract works', async () => {
      const node = 'urn:xmpp:interop:open';
      await iq(alice, publishIq(node, 'a', tune('A'), { options: { access_model: 'open', max_items: '10' } }));
      await iq(alice, publishIq(node, 'b', tune('B')));
      assert.deepEqual(resultItemIds(await iq(bob, itemsIq(node, { to: 'alice@localhost' }))), ['a', 'b']);
      assert.deepEqual(resultItemIds(await iq(carol, itemsIq(node, { to: 'alice@localhost' }))), ['a', 'b']);
      await expectError(iq(bob, publishIq(node, 'x', tune('hijack'), { to: 'alice@localhost' })), 'forbidden');
      await iq(alice, publishIq('urn:xmpp:interop:private', 'p', tune('P')));
      await expectError(iq(carol, itemsIq('urn:xmpp:interop:private', { to: 'alice@localhost' })), 'item-not-found');
      await iq(alice, retractIq(node, 'a'));
      assert.deepEqual(resultItemIds(await iq(bob, itemsIq(node, { to: 'alice@localhost' }))), ['b']);
      await expectError(iq(alice, retractIq(node, 'a')), 'item-not-found');
    });

    test('an account addressed in another case (ALICE@LocalHost) is the same account', async () => {
      const node = 'urn:xmpp:interop:case';
      await iq(alice, publishIq(node, 'c1', tune('C1'), { options: { access_model: 'open' } }));
      const read = await iqById(carol, itemsIq(node, { to: 'ALICE@LocalHost' }));
      assert.equal(read.attrs.from?.toLowerCase(), 'alice@localhost');
      assert.deepEqual(resultItemIds(read), ['c1']);
      const own = await iqById(alice, publishIq(node, 'c2', tune('C2'), { to: 'Alice@localhost' }));
      assert.equal(own.attrs.type, 'result');
      assert.deepEqual(resultItemIds(await iq(carol, itemsIq(node, { to: 'alice@localhost' }))), ['c2'], 'the same node (max_items 1)');
      await expectError(iqById(carol, publishIq(node, 'x', tune('X'), { to: 'ALICE@localhost' })), 'forbidden');
    });

    test('MAM on a node: paging forward and backward, results (privileged messages) before each IQ result', async () => {
      const node = 'urn:xmpp:interop:mam';
      await iq(alice, publishIq(node, 'm1', tune('m1'), { options: { access_model: 'open', max_items: 'max' } }));
      for (let i = 2; i <= 12; i++) await iq(alice, publishIq(node, `m${i}`, tune(`m${i}`)));
      await iq(alice, retractIq(node, 'm4'));
      const expected = [...Array.from({ length: 12 }, (_, i) => `item:m${i + 1}`), 'retract:m4'];
      // the privilege advertisement may trail the grants right after start-up: retry the first query
      const first = await eventually(() => mamQuery(bob, 'alice@localhost', node, { max: 5 }).catch(() => null), 10_000, 'a first MAM answer');
      assert.equal(first.fin.count, expected.length);
      const forward = [...first.entries];
      let page = first;
      while (page.fin.complete !== 'true') {
        page = await mamQuery(bob, 'alice@localhost', node, { max: 5, after: page.fin.last! });
        forward.push(...page.entries);
        assert.ok(forward.length <= expected.length, 'terminates');
      }
      assert.deepEqual(forward, expected);
      const backward: string[][] = [];
      let before = '';
      for (;;) {
        const p = await mamQuery(bob, 'alice@localhost', node, { max: 6, before });
        backward.unshift(p.entries);
        if (p.fin.complete === 'true') break;
        before = p.fin.first!;
        assert.ok(backward.length <= 5, 'terminates');
      }
      assert.deepEqual(backward.flat(), expected);
      await expectError(mamQuery(bob, 'alice@localhost', 'urn:xmpp:interop:no-such-node'), 'item-not-found');
    });

    test('a MAM query without node gets a clear error, never silence', async () => {
      const err = await expectError(mamQuery(bob, 'alice@localhost', undefined), 'service-unavailable');
      if (server.traits.filtering) {
        assert.equal(err.text, undefined, 'filtered by the server: its own bare answer');
      } else {
        assert.match(err.text ?? '', /node/, 'delegated anyway (no filtering): the broker explains');
      }
    });

    test('disco nesting: the workers\' features are merged into the account\'s disco#info, each item once', async () => {
      const res = await iq(alice, xml('iq', { type: 'get', id: nextId('disco') }, xml('query', { xmlns: DISCO_INFO })));
      const q = res.getChild('query', DISCO_INFO)!;
      const features = q.getChildren('feature').map((f) => f.attrs.var!);
      assert.ok(features.includes(`${PUBSUB}#publish`), res.toString());
      assert.ok(features.includes(MAM), res.toString());
      assert.ok(q.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep'), res.toString());
      const ids = q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
      const dup = (xs: string[]) => [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];
      // Both servers concatenate the answers of every delegated namespace (pubsub and pubsub#owner share a worker).
      assert.deepEqual(dup(features), [], 'no duplicate features (XEP-0030)');
      assert.deepEqual(dup(ids), [], 'no duplicate identities (XEP-0030)');
    });

    test('notifications: from the publisher\'s bare JID to own resources and +notify contacts only; the last item on login', async () => {
      const node = 'http://jabber.org/protocol/mood';
      const pcs: PepClient[] = [];
      const pep = async (user: string, resource: string) => {
        const pc = await connectPepClient({ port: server.c2sPort, user, password: PW, resource, notify: [node] });
        pcs.push(pc);
        await eventually(async () => (await sqlRows('select 1 from presence_sessions where full_jid = $1', [pc.jid])).length > 0, 10_000, `presence of ${pc.jid}`);
        return pc;
      };
      try {
        const [aliceN, bobN, carolN] = [await pep('alice', 'notif'), await pep('bob', 'notif'), await pep('carol', 'notif')];
        await iq(alice, publishIq(node, 'happy', xml('mood', { xmlns: node }, xml('happy'))));
        for (const pc of [aliceN, bobN]) {
          const msg = await pc.waitForEvent(eventAbout(node, 'alice@localhost', 'items'), 10_000, 'mood notification');
          assert.deepEqual(eventItems(msg).items, ['happy']);
        }
        assert.deepEqual(await carolN.eventsAfterQuiet(eventAbout(node, 'alice@localhost'), 1500), [], 'a stranger is not notified');
        // the contact reads the presence-model node, the stranger may not
        assert.deepEqual(resultItemIds(await iq(bob, itemsIq(node, { to: 'alice@localhost' }))), ['happy']);
        await expectError(iq(carol, itemsIq(node, { to: 'alice@localhost' })), 'item-not-found');
        // a new resource of the contact gets the last item, with <delay/>
        const late = await pep('bob', 'late');
        const msg = await late.waitForEvent(eventAbout(node, 'alice@localhost', 'items'), 10_000, 'last item on login');
        assert.ok(msg.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp, msg.toString());
      } finally {
        await closeAll(pcs.map((p) => p.client));
      }
    });

    test('access models roster and whitelist: roster groups and owner-set members decide, on either server', async () => {
      const rosterNode = 'urn:xmpp:interop:roster';
      await iq(alice, publishIq(rosterNode, 'r', tune('R'), { options: { access_model: 'roster', roster_groups_allowed: 'friends' } }));
      assert.deepEqual(resultItemIds(await iq(bob, itemsIq(rosterNode, { to: 'alice@localhost' }))), ['r'], 'bob is in group friends');
      await expectError(iq(carol, itemsIq(rosterNode, { to: 'alice@localhost' })), 'item-not-found');
      const wl = 'urn:xmpp:interop:whitelist';
      await iq(alice, publishIq(wl, 'w', tune('W'), { options: { access_model: 'whitelist' } }));
      await expectError(iq(bob, itemsIq(wl, { to: 'alice@localhost' })), 'item-not-found');
      await iq(alice, xml('iq', { type: 'set', id: nextId('aff') }, xml('pubsub', { xmlns: `${PUBSUB}#owner` },
        xml('affiliations', { node: wl }, xml('affiliation', { jid: 'carol@localhost', affiliation: 'member' })))));
      assert.deepEqual(resultItemIds(await iq(carol, itemsIq(wl, { to: 'alice@localhost' }))), ['w'], 'a member reads');
      await expectError(iq(bob, itemsIq(wl, { to: 'alice@localhost' })), 'item-not-found');
    });

    test('a client that just disconnects is online for a bounded time only (ejabberd sends no unavailable presence)', async () => {
      const pc = await connectPepClient({ port: server.c2sPort, user: 'carol', password: PW, resource: 'vanishing', notify: ['urn:xmpp:interop:x'] });
      const online = async () => (await sqlRows('select 1 from presence_sessions where full_jid = $1 and expires_at > now()', [pc.jid])).length > 0;
      await eventually(online, 10_000, 'presence of the resource');
      pc.client.socket?.destroy(); // no </stream>, no unavailable presence from the client
      if (server.traits.unavailableOnDisconnect) {
        await eventually(async () => !(await online()), 10_000, 'offline after the server\'s unavailable presence');
      } else {
        await sleep(1500);
        assert.ok(await online(), 'no unavailable presence came: still counted online');
        const [row] = await sqlRows(`select extract(epoch from expires_at - updated_at) * 1000 as ttl from presence_sessions where full_jid = $1`, [pc.jid]);
        assert.equal(Math.round(Number(row!.ttl)), PRESENCE_TTL_MS);
        await eventually(async () => !(await online()), PRESENCE_TTL_MS + 5_000, 'offline once PRESENCE_TTL_MS has passed');
      }
      await closeAll([pc.client]);
    });

    test('no worker running: service-unavailable within the bound; the worker comes back', async () => {
      const node = 'urn:xmpp:interop:no-worker';
      await iq(alice, publishIq(node, 'n1', tune('n1')));
      await stack.kill('pep', 'SIGTERM');
      try {
        await expectError(iq(alice, itemsIq(node)), 'service-unavailable');
      } finally {
        await stack.restart('pep');
      }
      assert.deepEqual(resultItemIds(await iq(alice, itemsIq(node))), ['n1']);
    });

    test('a worker killed while it holds a request: internal-server-error within the bound, nothing applied', async () => {
      const node = 'urn:xmpp:interop:killed';
      await iq(alice, publishIq(node, 'k0', tune('k0'), { options: { max_items: '10' } }));
      const holder = await sql.connect();
      try {
        await holder.query('begin');
        await holder.query(`select 1 from pubsub_nodes where service = 'alice@localhost' and node = $1 for update`, [node]);
        const pending = iq(alice, publishIq(node, 'k1', tune('k1')), REQUEST_TIMEOUT_MS + 5000);
        await eventually(async () => (await sqlRows(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)).length > 0, 5000, 'worker blocked on the node lock');
        await stack.kill('pep', 'SIGKILL');
        await expectError(pending, 'internal-server-error');
      } finally {
        await holder.query('rollback').catch(() => undefined);
        holder.release();
        await stack.restart('pep');
      }
      assert.deepEqual(resultItemIds(await iq(alice, itemsIq(node))), ['k0'], 'the killed publish was not applied');
    });

    test('a worker that answers garbage: internal-server-error, never silence', async () => {
      const { connect } = await import('@nats-io/transport-node');
      await stack.kill('pep', 'SIGTERM');
      const nc = await connect({ servers: stack.natsUrl });
      const answers = ['{"v":1}', 'garbage', JSON.stringify({ v: 1, requestId: 'x', worker: 'evil', stanza: '<iq/>' })];
      let n = 0;
      const sub = nc.subscribe('xmpp.req.*.pubsub', { queue: 'pep', callback: (_e, m) => void m.respond(answers[n++ % answers.length]!) });
      await nc.flush();
      try {
        for (let i = 0; i < answers.length; i++) await expectError(iq(alice, itemsIq('urn:xmpp:interop:tune')), 'internal-server-error');
      } finally {
        sub.unsubscribe();
        await nc.close();
        await stack.restart('pep');
      }
    });

    test('the component reconnects (ingress restarted): the server delegates again', async () => {
      const node = 'urn:xmpp:interop:reconnect';
      await iq(alice, publishIq(node, 'r1', tune('r1')));
      await stack.kill(stack.ingress, 'SIGTERM');
      await expectError(iq(alice, itemsIq(node)), 'service-unavailable');
      await stack.restart(stack.ingress);
      const res = await eventually(() => iq(alice, itemsIq(node), 2000).catch(() => null), 15_000, 'PEP answered after the reconnect');
      assert.deepEqual(resultItemIds(res), ['r1']);
    });

    test('the component reconnects while no PEP worker runs: delegation is active anyway, PEP answers once the worker is back', async () => {
      const node = 'urn:xmpp:interop:reconnect-no-worker';
      await iq(alice, publishIq(node, 'w1', tune('w1')));
      await stack.kill('pep', 'SIGTERM');
      try {
        await stack.kill(stack.ingress, 'SIGTERM');
        await stack.restart(stack.ingress);
        // ejabberd delegates only after the nesting answers, which wait FEATURES_WAIT_MS for the absent worker
        // kind and then come back empty; from then on the broker itself (audited) says no worker serves the route.
        const until = Date.now() + FEATURES_WAIT_MS + 10_000;
        for (;;) {
          const e = await expectError(iq(alice, itemsIq(node)), 'service-unavailable');
          const ours = await eventually(async () => (await sqlRows(`select 1 from audit_log where iq_id = $1 and reason like 'no worker%'`, [e.stanza.attrs.id])).length > 0, 2000, 'audit row')
            .then(() => true, () => false);
          if (ours) break;
          assert.ok(Date.now() < until, 'the server delegated to the broker within FEATURES_WAIT_MS + 10 s');
        }
      } finally {
        await stack.restart('pep');
      }
      assert.deepEqual(resultItemIds(await iq(alice, itemsIq(node))), ['w1']);
    });

    if (kind === 'ejabberd') test('ejabberd accepted every wrapper the broker sent (no "invalid delegated payload" in its log)', async () => {
      const { readFile } = await import('node:fs/promises');
      const log = await readFile(server.logPath, 'utf8');
      assert.ok(/is delegated to external component/.test(log), 'the log is the right one');
      assert.deepEqual(log.split('\n').filter((l) => /invalid delegated payload|External component failure|External component timeout/.test(l)), []);
    });
  });
}
