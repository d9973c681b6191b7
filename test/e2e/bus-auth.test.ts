import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import xml from '@xmpp/xml';
import { connectBus, encodeEnvelope, inboxPrefixOf, sendPrivilegedMessage, type Bus } from '@dbroker/bus';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../harness/nats-server';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { startBrokerStack, REPO_ROOT, type BrokerStack } from '../harness/stack';
import { closeAll, connectClient, iq, type Client } from '../harness/xmpp-client';
import { itemsIq, publishIq, resultItemIds } from '../harness/pubsub-iq';
import { mamQuery } from '../harness/mam-query';

// The bus as a trust boundary: the services run as separate processes against a real nats-server started
// with the shipped deploy/nats/nats-server.conf, each with its own identity. A request flows end to end;
// an unauthenticated client cannot connect; each worker identity is refused what is not its part.

const NATS_CONF = join(REPO_ROOT, 'deploy', 'nats', 'nats-server.conf');
const KINDS = ['ingress', 'pep', 'mam', 'projector'] as const;
type Kind = (typeof KINDS)[number];
// As the deploy files say: nats-server reads them as config values, so each starts with a letter.
const PASSWORD: Record<Kind, string> = Object.fromEntries(KINDS.map((k) => [k, `pw${randomBytes(24).toString('hex')}`])) as Record<Kind, string>;
const SERVER = 'localhost';
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let nats: NatsServerHandle;
let prosody: ProsodyHandle;
let stack: BrokerStack;
let secretsDir: string;
let alice: Client;
let bob: Client;

before(async () => {
  nats = await startNatsServer({ configFile: NATS_CONF, env: Object.fromEntries(KINDS.map((k) => [`NATS_${k.toUpperCase()}_PASSWORD`, PASSWORD[k]])) });
  prosody = await startProsody({
    users: [{ user: 'alice', password: 'pw' }, { user: 'bob', password: 'pw' }],
    rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: 'alice@localhost', subscription: 'both' }] },
  });
  // Each way of handing a service its password: plain variables, a mounted secret file, the URL.
  secretsDir = await mkdtemp(join(tmpdir(), 'dbroker-bus-secrets-'));
  await writeFile(join(secretsDir, 'pep'), `${PASSWORD.pep}\n`, { mode: 0o600 });
  const port = new URL(nats.url).port;
  stack = await startBrokerStack({
    prosody,
    mode: 'separate',
    natsUrl: nats.url,
    logLevel: 'info',
    serviceEnv: {
      ingress: { NATS_USER: 'ingress', NATS_PASSWORD: PASSWORD.ingress },
      pep: { NATS_USER: 'pep', NATS_PASSWORD_FILE: join(secretsDir, 'pep') },
      mam: { NATS_URL: `nats://mam:${encodeURIComponent(PASSWORD.mam)}@127.0.0.1:${port}` },
      projector: { NATS_USER: 'projector', NATS_PASSWORD: PASSWORD.projector },
    },
  });
  alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: 'pw' });
  bob = await connectClient({ port: prosody.c2sPort, user: 'bob', password: 'pw' });
});

after(async () => {
  await closeAll([alice, bob].filter(Boolean));
  await stack?.stop();
  await prosody?.stop();
  await nats?.stop();
  if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
});

const NODE = 'urn:xmpp:bus-auth:0';

/** PEP publish and read, a contact's read (the worker fetches the owner's roster through `iq`), MAM (results through `out`), the projector's events. */
async function endToEnd(s: BrokerStack, owner: Client, contact: Client): Promise<void> {
  const payload = xml('entry', { xmlns: 'urn:xmpp:bus-auth:0' }, 'hello');
  // The grant may come just after the component is online.
  const t0 = Date.now();
  for (;;) {
    const r = await iq(owner, publishIq(NODE, 'one', payload)).catch((e: Error) => e);
    if (!(r instanceof Error)) break;
    assert.ok(Date.now() - t0 < 15_000, String(r));
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.deepEqual(resultItemIds(await iq(owner, itemsIq(NODE))), ['one']);
  // The contact reads the owner's presence-access node: the PEP worker asks the ingress for the roster (`iq`).
  assert.deepEqual(resultItemIds(await iq(contact, itemsIq(NODE, { to: 'alice@localhost' }))), ['one']);
  // MAM: the result message goes out through the ingress (`out`).
  const mam = await mamQuery(owner, 'alice@localhost', NODE);
  assert.deepEqual(mam.entries, ['item:one']);
  // The projector (its durable consumer) stored the ingress's audit events.
  const db = new pg.Client({ connectionString: s.databaseUrl });
  await db.connect();
  try {
    const t1 = Date.now();
    for (;;) {
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE type = 'request.answered'`);
      if (Number(rows[0]!.n) >= 3) break;
      assert.ok(Date.now() - t1 < 15_000, `projected events: ${rows[0]!.n}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    await db.end();
  }
  for (const name of s.names) assert.doesNotMatch(await s.logs(name), /Permissions Violation|Authorization Violation/, `${name} hit no permission error`);
}

test('with one identity per kind and the shipped permissions, PEP (with a roster check), MAM and the projector work end to end', async () => {
  await endToEnd(stack, alice, bob);
  // mam got its password inside NATS_URL, the others as variables or a file: none of them is ever logged.
  for (const name of stack.names) {
    const logs = await stack.logs(name);
    assert.match(logs, /connected to NATS/, name);
    for (const k of KINDS) assert.ok(!logs.includes(PASSWORD[k]), `${name}'s log holds no password`);
  }
});

test('an unauthenticated client, or one with a wrong password, is refused by the server', async () => {
  await assert.rejects(connectBus({ url: nats.url, name: 'anonymous', logger, timeoutMs: 2000 }), /Authorization Violation/);
  await assert.rejects(connectBus({ url: nats.url, name: 'guess', logger, timeoutMs: 2000, auth: { NATS_USER: 'pep', NATS_PASSWORD: 'guess' } }), /Authorization Violation/);
  await assert.rejects(connectBus({ url: nats.url, name: 'guess', logger, timeoutMs: 2000, auth: { NATS_USER: 'ingress', NATS_PASSWORD: PASSWORD.pep } }), /Authorization Violation/);
});

/** A connection as `kind` that records the permission errors the server sends it. */
async function connectAs(kind: Kind): Promise<{ bus: Bus; denied: (t: Attempt) => boolean; clear(): void }> {
  const bus = await connectBus({ url: nats.url, name: `attacker as ${kind}`, logger, timeoutMs: 2000, auth: { NATS_USER: kind, NATS_PASSWORD: PASSWORD[kind] }, kind });
  const errors: string[] = [];
  void (async () => {
    for await (const s of bus.nc.status()) if (s.type === 'error') errors.push(s.error.message);
  })().catch(() => undefined);
  return {
    bus,
    // nats-server: `Permissions Violation for Publish to "<subject>"` / `... for Subscription to "<subject>" using queue "<q>"`
    denied: (t) => errors.some((m) => m.includes(`Permissions Violation for ${t.op} to "${t.subject}"${t.queue ? ` using queue "${t.queue}"` : ''}`)),
    clear: () => void errors.splice(0),
  };
}

type Attempt = { what: string; op: 'Publish' | 'Subscription'; subject: string; queue?: string; act: (nc: NatsConnection) => void };
const pub = (what: string, subject: string, data: Uint8Array | string = '{}'): Attempt => ({ what, op: 'Publish', subject, act: (nc) => nc.publish(subject, data, { reply: `${(nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix}.x` }) });
const sub = (what: string, subject: string, queue?: string): Attempt => ({ what, op: 'Subscription', subject, ...(queue ? { queue } : {}), act: (nc) => void nc.subscribe(subject, queue ? { queue } : {}) });

const chat = encodeEnvelope({ v: 1, kind: 'message', stanza: `<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' type='chat'><body>forged</body></message>`, worker: 'attacker' });
const rosterGet = JSON.stringify({ v: 1, kind: 'roster-get', to: 'alice@localhost', timeoutMs: 2000 });

/** What no worker identity may do, whatever its kind. */
const forbiddenToEveryWorker: Attempt[] = [
  pub('inject a delegated request', `xmpp.req.${SERVER}.pubsub`),
  pub('inject a MAM request', `xmpp.req.${SERVER}.mam`),
  pub('forge an audit event', 'dbroker.events.privilege.refused'),
  pub('forge an audit batch', 'dbroker.events.batch'),
  pub('purge the audit stream', '$JS.API.STREAM.PURGE.DBROKER_EVENTS'),
  pub('delete the audit stream', '$JS.API.STREAM.DELETE.DBROKER_EVENTS'),
  pub('forge a presence', `xmpp.presence.${SERVER}`),
  pub('ask features as if it were the ingress', 'xmpp.features.pubsub'),
  pub('publish into another identity\'s inbox', `${inboxPrefixOf('ingress')}.abc.1`),
  sub('read what workers ask the ingress to send', 'xmpp.out.>'),
  sub('read roster gets', 'xmpp.iq.>'),
  sub('read every reply (roster answers included)', '_INBOX.>'),
  sub('read the ingress\'s replies', `${inboxPrefixOf('ingress')}.>`),
  sub('read the audit events', 'dbroker.events.>'),
  sub('take requests outside any queue group', `xmpp.req.${SERVER}.pubsub`),
];

test('the PEP identity: its own queue group and subjects only; a chat it asks for is refused by the ingress', async () => {
  const a = await connectAs('pep');
  try {
    const attempts = [
      ...forbiddenToEveryWorker,
      sub('join the MAM queue group', `xmpp.req.${SERVER}.mam`, 'mam'),
      sub('take PEP requests in a foreign queue group', `xmpp.req.${SERVER}.pubsub`, 'intruders'),
      sub('read the other kind\'s replies', `${inboxPrefixOf('mam')}.>`),
    ];
    for (const t of attempts) t.act(a.bus.nc);
    await a.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    const notDenied = attempts.filter((t) => !a.denied(t)).map((t) => `${t.what} (${t.subject})`);
    assert.deepEqual(notDenied, [], 'every attempt refused by the server');

    // Positive controls: what the PEP workers need is allowed (so the refusals above are about the subject).
    a.clear();
    const allowed = [
      sub('take PEP requests in its queue group', 'xmpp.req.no-such-domain.pubsub', 'pep'),
      sub('its own replies', `${inboxPrefixOf('pep')}.control.>`),
    ];
    for (const t of allowed) t.act(a.bus.nc);
    await a.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(allowed.filter((t) => a.denied(t)).map((t) => t.what), []);

    // By design a worker publishes on `out`: the ingress then sends only what workers produce.
    let bobGotChat = false;
    const onStanza = (el: { name: string; getChildText(n: string): string | null }) => void (el.name === 'message' && el.getChildText('body') === 'forged' && (bobGotChat = true));
    bob.on('stanza', onStanza);
    const ack = await sendPrivilegedMessage(a.bus.nc, `xmpp.out.${SERVER}`, JSON.parse(new TextDecoder().decode(chat)), 3000);
    assert.equal(ack.ok, false);
    assert.equal(!ack.ok && ack.error, 'forbidden', JSON.stringify(ack));
    await new Promise((r) => setTimeout(r, 300));
    bob.removeListener('stanza', onStanza);
    assert.equal(bobGotChat, false, 'bob got no chat "from" alice');
    assert.match(await stack.logs('ingress'), /privileged message refused/);
  } finally {
    await a.bus.drain();
  }
});

test('the MAM identity: its own queue group and subjects only', async () => {
  const a = await connectAs('mam');
  try {
    const attempts = [...forbiddenToEveryWorker, sub('join the PEP queue group', `xmpp.req.${SERVER}.pubsub`, 'pep'), sub('take presences', `xmpp.presence.${SERVER}`, 'pep')];
    for (const t of attempts) t.act(a.bus.nc);
    await a.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(attempts.filter((t) => !a.denied(t)).map((t) => `${t.what} (${t.subject})`), []);
  } finally {
    await a.bus.drain();
  }
});

test('the projector identity: reads its consumer, nothing else (no chat, no roster, no request, no event)', async () => {
  const a = await connectAs('projector');
  try {
    const attempts = [
      ...forbiddenToEveryWorker,
      pub('send a chat as a user', `xmpp.out.${SERVER}`, chat),
      pub('read a roster', `xmpp.iq.${SERVER}`, rosterGet),
      sub('join the PEP queue group', `xmpp.req.${SERVER}.pubsub`, 'pep'),
      pub('create a consumer of its own choosing', '$JS.API.CONSUMER.CREATE.DBROKER_EVENTS.spy'),
      pub('delete its consumer\'s messages', '$JS.API.STREAM.MSG.DELETE.DBROKER_EVENTS'),
    ];
    for (const t of attempts) t.act(a.bus.nc);
    await a.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(attempts.filter((t) => !a.denied(t)).map((t) => `${t.what} (${t.subject})`), []);
  } finally {
    await a.bus.drain();
  }
});

test('npm start against a NATS with the shipped all-in-one identity (deploy/nats/all-in-one.conf): end to end; anonymous refused', async () => {
  const password = `pw${randomBytes(24).toString('hex')}`;
  await using aioNats = await startNatsServer({ configFile: join(REPO_ROOT, 'deploy', 'nats', 'all-in-one.conf'), env: { NATS_ALL_IN_ONE_PASSWORD: password } });
  await using aioProsody = await startProsody({
    users: [{ user: 'alice', password: 'pw' }, { user: 'bob', password: 'pw' }],
    rosters: { alice: [{ jid: 'bob@localhost', subscription: 'both' }], bob: [{ jid: 'alice@localhost', subscription: 'both' }] },
  });
  await using aio = await startBrokerStack({ prosody: aioProsody, mode: 'all-in-one', natsUrl: aioNats.url, logLevel: 'info', env: { NATS_USER: 'all-in-one', NATS_PASSWORD: password } });
  const owner = await connectClient({ port: aioProsody.c2sPort, user: 'alice', password: 'pw' });
  const contact = await connectClient({ port: aioProsody.c2sPort, user: 'bob', password: 'pw' });
  try {
    await endToEnd(aio, owner, contact);
    await assert.rejects(connectBus({ url: aioNats.url, name: 'anonymous', logger, timeoutMs: 2000 }), /Authorization Violation/);
    assert.ok(!(await aio.logs('all-in-one')).includes(password), 'the password is never logged');
  } finally {
    await closeAll([owner, contact]);
  }
});
