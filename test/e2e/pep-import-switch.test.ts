import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import xml, { type Element } from '@xmpp/xml';
import { startProsody, type ProsodyRosterItem } from '../harness/prosody';
import { connectClient, iq, closeAll, StanzaErrorResponse, type Client } from '../harness/xmpp-client';
import { itemsIq, NS_PUBSUB, publishIq } from '../harness/pubsub-iq';
import { startPepScenario, PASSWORD, type PepScenario } from '../harness/pep-scenario';
import { mamQuery } from '../harness/mam-query';

// The switch itself, on one domain (`localhost`): a Prosody 0.12 serving PEP with its own mod_pep (file
// storage), real clients publishing; then the admin's switch: the server delegates PEP to the broker and
// `npm run import` copies the old server's files. The same clients (owner, contact, stranger) read
// everything back THROUGH THE BROKER and get what Prosody answered them (item ids, payloads, or the same
// refusal), and MAM on a node shows the imported history.

const execFileAsync = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const ALICE = 'alice@localhost';
const USERS = ['alice', 'bob', 'carol'];
const ROSTERS: Record<string, ProsodyRosterItem[]> = {
  alice: [{ jid: 'bob@localhost', subscription: 'both' }],
  bob: [{ jid: ALICE, subscription: 'both' }],
};
const AVATAR_DATA = 'urn:xmpp:avatar:data';
const AVATAR_META = 'urn:xmpp:avatar:metadata';
const DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist';
const BUNDLE = 'eu.siacs.conversations.axolotl.bundles:31415';
const BOOKMARKS = 'urn:xmpp:bookmarks:1';
const MULTI = 'urn:example:multi';
const NODES = [AVATAR_DATA, AVATAR_META, DEVICELIST, BUNDLE, BOOKMARKS, MULTI];
const OPEN = { 'pubsub#access_model': 'open' };

/**
 * What a reader got for a node: the items (id -> payload XML, sorted by id) or a refusal. The refusal's
 * condition differs by design: Prosody answers `forbidden`; the broker answers a node the requester may
 * not see exactly like a missing node (`item-not-found`), so as not to reveal that it exists.
 */
type Answer = { items: Array<[string, string]> } | { refused: true };

function canonical(el: Element): string {
  const attrs = Object.entries(el.attrs).sort(([a], [b]) => (a < b ? -1 : 1));
  const kids = el.children.map((c) => (typeof c === 'string' ? c.trim() : canonical(c))).filter((c) => c !== '');
  return `<${el.name} ${attrs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}>${kids.join('')}</${el.name}>`;
}

async function read(c: Client, node: string): Promise<Answer> {
  try {
    const res = await iq(c, itemsIq(node, { to: ALICE }));
    const items = res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item') ?? [];
    return { items: items.map((i): [string, string] => [i.attrs.id as string, canonical(i.getChildElements()[0]!)]).sort(([a], [b]) => (a < b ? -1 : 1)) };
  } catch (err) {
    if (err instanceof StanzaErrorResponse && ['forbidden', 'not-authorized', 'not-allowed', 'item-not-found'].includes(err.condition ?? '')) return { refused: true };
    throw err;
  }
}

const nativeAnswers = new Map<string, Answer>();
let sc: PepScenario;
let oldData: string;

before(async () => {
  // 1. the old server: PEP by Prosody's own mod_pep on localhost
  const old = await startProsody({
    delegations: false,
    privileges: false,
    logLevel: 'warn',
    users: USERS.map((user) => ({ user, password: PASSWORD })),
    rosters: ROSTERS,
    extraGlobal: 'modules_enabled = { "roster", "saslauth", "disco", "ping", "posix", "pep" }',
  });
  const clients: Client[] = [];
  try {
    const [alice, bob, carol] = await Promise.all(USERS.map((user) => connectClient({ port: old.c2sPort, user, password: PASSWORD, resource: 'r' })));
    clients.push(alice!, bob!, carol!);
    const pub = (node: string, id: string, payload: Element, options?: Record<string, string>) => iq(alice!, publishIq(node, id, payload, options ? { options } : {}));
    await pub(AVATAR_DATA, 'aabb', xml('data', { xmlns: AVATAR_DATA }, 'iVBORw0KGgo='));
    await pub(AVATAR_META, 'aabb', xml('metadata', { xmlns: AVATAR_META }, xml('info', { bytes: '8', id: 'aabb', type: 'image/png' })));
    await pub(DEVICELIST, 'current', xml('list', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('device', { id: '31415' })), OPEN);
    await pub(BUNDLE, 'current', xml('bundle', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('identityKey', {}, 'aWs=')), OPEN);
    await pub(BOOKMARKS, 'room@muc.localhost', xml('conference', { xmlns: BOOKMARKS, autojoin: 'true' }, xml('nick', {}, 'al')), { 'pubsub#access_model': 'whitelist', 'pubsub#max_items': 'max', 'pubsub#persist_items': 'true', 'pubsub#send_last_published_item': 'never' });
    for (const i of [1, 2, 3]) await pub(MULTI, `m${i}`, xml('entry', { xmlns: 'urn:example:entry' }, `n${i}`), { 'pubsub#max_items': '10' });
    for (const [who, c] of [['alice', alice!], ['bob', bob!], ['carol', carol!]] as const) for (const node of NODES) nativeAnswers.set(`${who} ${node}`, await read(c, node));
    oldData = await mkdtemp(join(tmpdir(), 'dbroker-import-switch-'));
    await cp(join(old.dir, 'data'), oldData, { recursive: true });
  } finally {
    await closeAll(clients);
    await old.stop();
  }
  // 2. the switch: the server delegates PEP to the broker, the admin imports the old data
  sc = await startPepScenario({ users: USERS, prosody: { rosters: ROSTERS, logLevel: 'warn' }, stack: { mode: 'all-in-one' } });
  const r = await execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/import.ts', '--from', 'prosody', '--data-path', oldData, '--host', 'localhost'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: sc.db.url },
    timeout: 60_000,
  });
  assert.match(r.stdout, /imported 8 item\(s\) of 1 account\(s\)/);
});

after(async () => {
  await sc?.stop();
  if (oldData) await rm(oldData, { recursive: true, force: true });
});

test('owner, contact and stranger read every imported node through the broker exactly as Prosody answered them', async () => {
  // the native answers cover all three kinds of decision (sanity of the fixture itself)
  assert.deepEqual(nativeAnswers.get(`carol ${AVATAR_DATA}`), { refused: true });
  assert.equal((nativeAnswers.get(`bob ${AVATAR_DATA}`) as { items: unknown[] }).items.length, 1);
  assert.equal((nativeAnswers.get(`carol ${DEVICELIST}`) as { items: unknown[] }).items.length, 1);
  assert.deepEqual(nativeAnswers.get(`bob ${BOOKMARKS}`), { refused: true });
  for (const who of USERS) {
    const c = await sc.pep(who, 'after', []);
    for (const node of NODES) {
      assert.deepEqual(await read(c.client, node), nativeAnswers.get(`${who} ${node}`), `${who} reading ${node}`);
    }
  }
});

test('MAM on an imported node shows the imported history, oldest first', async () => {
  const alice = await sc.pep('alice', 'mam', []);
  const answer = await mamQuery(alice.client, ALICE, MULTI);
  assert.deepEqual(answer.entries, ['item:m1', 'item:m2', 'item:m3']);
  assert.equal(answer.fin.complete, 'true');
});
