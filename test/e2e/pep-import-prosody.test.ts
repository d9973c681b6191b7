import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import xml, { type Element } from '@xmpp/xml';
import { parseXml } from '@dbroker/protocol';
import { createDatabase, type DatabaseHandle } from '@dbroker/store';
import { createPgNodeLog, createPgPubsubStorage, type PubsubStorage } from '@dbroker/pubsub';
import { startProsody, PEP_HOST, type ProsodyHandle } from '../harness/prosody';
import { connectClient, iq, closeAll, type Client } from '../harness/xmpp-client';
import { affiliationsSetIq, formValues, itemsIq, NS_PUBSUB, NS_PUBSUB_OWNER, ownerIq, publishIq, subscribeIq } from '../harness/pubsub-iq';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';

// Real Prosody 0.12 with its own mod_pep (VirtualHost pep.localhost, internal file storage): real clients
// create the PEP data users have today (avatar data + metadata, OMEMO device list and bundle with
// access_model=open, XEP-0402 bookmarks with whitelist, a multi-item node), then `npm run import` (the CLI,
// as an admin runs it) copies the live server's files into the broker's Postgres. Everything is compared
// with what Prosody itself answers: ids, payloads, publishers, times, configs, affiliations, subscriptions.

const execFileAsync = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const ALICE = `alice@${PEP_HOST}`;
const BOB = `bob@${PEP_HOST}`;
const AVATAR_DATA = 'urn:xmpp:avatar:data';
const AVATAR_META = 'urn:xmpp:avatar:metadata';
const DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist';
const BUNDLE = 'eu.siacs.conversations.axolotl.bundles:1234';
const BOOKMARKS = 'urn:xmpp:bookmarks:1';
const MULTI = 'urn:example:multi';
const NODES = [AVATAR_DATA, AVATAR_META, BOOKMARKS, DEVICELIST, BUNDLE, MULTI];
const OPEN = { 'pubsub#access_model': 'open' };
const BOOKMARK_OPTIONS = { 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never', 'pubsub#access_model': 'whitelist' };

let prosody: ProsodyHandle;
let temp: TempDatabase;
let db: DatabaseHandle;
let storage: PubsubStorage;
const clients: Client[] = [];
let alice: Client;
let publishWindow: { from: number; to: number };

/** What Prosody answers for a node: items (newest first, as Prosody lists them), config form, affiliations. */
interface Native {
  items: Array<{ id: string; payload: Element }>;
  config: Record<string, string[]>;
  affiliations: Record<string, string>;
}
const native = new Map<string, Native>();

function runImport(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/import.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: temp.url },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

const dataPath = () => join(prosody.dir, 'data');

/** Structural XML equality: names, namespaces, attributes (any order), text and children in order. */
function sameXml(a: Element, b: Element): boolean {
  if (a.name !== b.name || a.getNS() !== b.getNS()) return false;
  const attrs = (e: Element) => Object.entries(e.attrs).filter(([k]) => k !== 'xmlns' && !k.startsWith('xmlns:')).sort();
  if (JSON.stringify(attrs(a)) !== JSON.stringify(attrs(b))) return false;
  const kids = (e: Element) => e.children.filter((c) => typeof c !== 'string' || c.trim() !== '');
  const ka = kids(a);
  const kb = kids(b);
  return ka.length === kb.length && ka.every((c, i) => (typeof c === 'string' ? c === kb[i] : typeof kb[i] !== 'string' && sameXml(c, kb[i] as Element)));
}

before(async () => {
  prosody = await startProsody({
    pepHost: true,
    delegations: false,
    privileges: false,
    logLevel: 'warn',
    users: ['alice', 'bob'].map((user) => ({ user, password: 'pw', host: PEP_HOST })),
  });
  temp = await createTempDatabase('dbroker_import_e2e');
  alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: 'pw', domain: PEP_HOST, resource: 'phone' });
  const bob = await connectClient({ port: prosody.c2sPort, user: 'bob', password: 'pw', domain: PEP_HOST, resource: 'laptop' });
  clients.push(alice, bob);

  const from = Date.now();
  const pub = (node: string, id: string, payload: Element, options?: Record<string, string>) => iq(alice, publishIq(node, id, payload, options ? { options } : {}));
  await pub(AVATAR_DATA, 'd3b07384d113edec49eaa6238ad5ff00', xml('data', { xmlns: AVATAR_DATA }, 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='));
  await pub(AVATAR_META, 'd3b07384d113edec49eaa6238ad5ff00', xml('metadata', { xmlns: AVATAR_META }, xml('info', { bytes: '70', id: 'd3b07384d113edec49eaa6238ad5ff00', height: '1', width: '1', type: 'image/png' })));
  await pub(DEVICELIST, 'current', xml('list', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('device', { id: '1234' }), xml('device', { id: '5678', label: 'Tablet "é" <&>' })), OPEN);
  await pub(
    BUNDLE,
    'current',
    xml('bundle', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('signedPreKeyPublic', { signedPreKeyId: '1' }, 'BQ=='), xml('signedPreKeySignature', {}, 'c2ln'), xml('identityKey', {}, 'aWs='), xml('prekeys', {}, ...[1, 2, 3].map((i) => xml('preKeyPublic', { preKeyId: String(i) }, `cGs${i}`)))),
    OPEN,
  );
  await pub(BOOKMARKS, 'room@conference.example.org', xml('conference', { xmlns: BOOKMARKS, name: 'The Room ✓ & <co>', autojoin: 'true' }, xml('nick', {}, 'alice'), xml('extensions', {}, xml('state', { xmlns: 'urn:example:state', 'xml:lang': 'en' }, 'x'))), BOOKMARK_OPTIONS);
  await pub(BOOKMARKS, 'other@conference.example.org', xml('conference', { xmlns: BOOKMARKS, autojoin: 'false' }, xml('password', {}, 'p\n\tw')), BOOKMARK_OPTIONS);
  for (const i of [1, 2, 3, 4]) await pub(MULTI, `e${i}`, xml('entry', { xmlns: 'urn:example:entry' }, `entry ${i}`), { 'pubsub#max_items': '10' });
  await pub(MULTI, 'e2', xml('entry', { xmlns: 'urn:example:entry' }, 'entry 2, edited'), { 'pubsub#max_items': '10' }); // a re-publish moves e2 last
  publishWindow = { from: from - 1000, to: Date.now() + 1000 };
  await iq(alice, affiliationsSetIq(BOOKMARKS, { [BOB]: 'member' }));
  await iq(bob, subscribeIq(ALICE, DEVICELIST, `${BOB}/laptop`));

  for (const node of NODES) {
    const items = (await iq(alice, itemsIq(node))).getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item');
    const config = formValues((await iq(alice, ownerIq('get', xml('configure', { node })))).getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('configure')!);
    const affs = (await iq(alice, ownerIq('get', xml('affiliations', { node })))).getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('affiliations')!.getChildren('affiliation');
    native.set(node, {
      items: items.map((i) => ({ id: i.attrs.id as string, payload: i.getChildElements()[0]! })),
      config,
      affiliations: Object.fromEntries(affs.map((a) => [a.attrs.jid as string, a.attrs.affiliation as string])),
    });
  }
  db = await createDatabase({ url: temp.url });
  storage = createPgPubsubStorage(db.raw);
});

after(async () => {
  await closeAll(clients);
  await db?.close();
  await prosody?.stop();
  await temp?.drop();
});

test('dry run on the live server: a per-account report, nothing written', async () => {
  const r = await runImport(['--from', 'prosody', '--data-path', dataPath(), '--host', PEP_HOST, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${ALICE}: would import 10 item\\(s\\) in 6 node\\(s\\) \\(6 new\\)`));
  assert.match(r.stderr, /urn:xmpp:bookmarks:1: created, \+2 item\(s\), 0 unchanged, \+1 affiliation\(s\), \+0 subscription\(s\)/);
  assert.match(r.stdout, /dry run \(nothing written\): would import 10 item\(s\) of 1 account\(s\)/);
  assert.deepEqual(await storage.listNodes(ALICE), []);
});

test('import: every node, config, affiliation, subscription and item as Prosody serves it', async () => {
  const r = await runImport(['--from', 'prosody', '--data-path', dataPath(), '--host', PEP_HOST]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 10 item\(s\) of 1 account\(s\)/);
  const log = createPgNodeLog(db.db);
  assert.deepEqual((await storage.listNodes(ALICE)).map((n) => n.node), [...NODES].sort());
  for (const name of NODES) {
    const node = (await storage.getNode(ALICE, name))!;
    const want = native.get(name)!;
    // the same ids (Prosody's listing order is not its storage order: the order is checked below)
    const items = await storage.listItems(node.id);
    assert.deepEqual(items.map((i) => i.itemId).sort(), want.items.map((i) => i.id).sort(), name);
    for (const item of items) {
      const theirs = want.items.find((i) => i.id === item.itemId)!.payload;
      assert.ok(sameXml(parseXml(item.payload), theirs), `${name}/${item.itemId}: ${item.payload} vs ${theirs.toString()}`);
      assert.equal(item.publisher, ALICE);
      assert.ok(item.publishedAt.getTime() >= publishWindow.from && item.publishedAt.getTime() <= publishWindow.to, `${name}: time ${item.publishedAt.toISOString()}`);
    }
    for (const key of ['access_model', 'max_items', 'persist_items', 'send_last_published_item', 'publish_model'] as const) {
      const nativeValue = want.config[`pubsub#${key}`]?.[0];
      const mine = node.config[key];
      const expected = key === 'persist_items' ? nativeValue === '1' || nativeValue === 'true' : key === 'max_items' && nativeValue !== 'max' ? Number(nativeValue) : nativeValue;
      assert.deepEqual(mine, expected, `${name} ${key}: native ${nativeValue}`);
    }
    const affs = Object.fromEntries((await storage.listAffiliations(node.id)).map((a) => [a.jid, a.affiliation]));
    assert.deepEqual(affs, Object.fromEntries(Object.entries(want.affiliations).filter(([, a]) => a !== 'owner')), name);
    // the node log (MAM on the node) starts with the imported publishes, in publication order
    const page = await log.page(node.id, { direction: 'forward', limit: 100 });
    assert.ok(page.entries.every((e) => e.kind === 'publish' && e.publisher === ALICE));
    assert.deepEqual(page.entries.map((e) => e.itemId), items.map((i) => i.itemId), name);
  }
  const order = async (n: string) => (await storage.listItems((await storage.getNode(ALICE, n))!.id)).map((i) => i.itemId);
  assert.deepEqual(await order(BOOKMARKS), ['room@conference.example.org', 'other@conference.example.org']);
  const multi = (await storage.getNode(ALICE, MULTI))!;
  assert.deepEqual((await storage.listItems(multi.id)).map((i) => i.itemId), ['e1', 'e3', 'e4', 'e2']);
  assert.deepEqual((await storage.listSubscriptions((await storage.getNode(ALICE, DEVICELIST))!.id)).map((s) => s.jid), [`${BOB}/laptop`]);
  assert.equal((await storage.getNode(ALICE, DEVICELIST))!.config.access_model, 'open');
  assert.equal((await storage.getNode(ALICE, BOOKMARKS))!.config.access_model, 'whitelist');
});

test('run again: nothing doubles', async () => {
  const count = async () => Number((await db.raw.query<{ n: string | number }>({ text: 'select count(*) as n from pubsub_node_events' }))[0]!.n);
  const before_ = await count();
  const r = await runImport(['--from', 'prosody', '--data-path', dataPath(), '--host', PEP_HOST]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 0 item\(s\) of 1 account\(s\).*0 new, 6 existing, 0 skipped; 10 item\(s\) already there/);
  assert.equal(await count(), before_);
});

test('a malformed file: that node is reported and skipped, the others import; exit code 3', async () => {
  const copy = join(prosody.dir, 'copy');
  await cp(dataPath(), copy, { recursive: true });
  const host = join(copy, 'pep%2elocalhost');
  const multiDir = (await readdir(host)).find((d) => d.startsWith('pep_urn%3aexample%3amulti'))!;
  const list = join(host, multiDir, 'alice.list');
  await writeFile(list, `${(await readFile(list, 'utf8')).slice(0, 60)}os.execute("touch /tmp/pwned")`);
  await writeFile(join(host, 'pep', 'mallory.dat'), 'return { ["n"] = { ["config"] = ' + '{'.repeat(500) + ' } }');
  const fresh = await createTempDatabase('dbroker_import_e2e_bad');
  try {
    const r = await execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/import.ts', '--from', 'prosody', '--data-path', copy, '--host', PEP_HOST], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: fresh.url },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /skipped: alice@pep\.localhost node urn:example:multi .*expected/);
    assert.match(r.stderr, /skipped: mallory@pep\.localhost .*nested deeper than 64/);
    const h = await createDatabase({ url: fresh.url });
    try {
      const s = createPgPubsubStorage(h.raw);
      assert.deepEqual((await s.listNodes(ALICE)).map((n) => n.node), NODES.filter((n) => n !== MULTI).sort());
    } finally {
      await h.close();
    }
  } finally {
    await fresh.drop();
  }
});

test('npm run export --all, then npm run import --from xep0227 into a fresh database: the same nodes, configs, members and items', async () => {
  const file = join(prosody.dir, 'export.xml');
  const ex = await execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/export.ts', '--all', '--file', file], { cwd: ROOT, env: { ...process.env, DATABASE_URL: temp.url }, timeout: 60_000 });
  assert.match(ex.stdout, /exported 10 item\(s\) of 1 account\(s\)/);
  const fresh = await createTempDatabase('dbroker_import_e2e_rt');
  try {
    const r = await execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/import.ts', '--from', 'xep0227', '--file', file], { cwd: ROOT, env: { ...process.env, DATABASE_URL: fresh.url }, timeout: 60_000 });
    assert.match(r.stdout, /imported 10 item\(s\) of 1 account\(s\)/);
    const h = await createDatabase({ url: fresh.url });
    try {
      const other = createPgPubsubStorage(h.raw);
      const dump = async (s: PubsubStorage) => {
        const out: unknown[] = [];
        for (const n of await s.listNodes(ALICE)) {
          out.push({
            node: n.node,
            config: n.config,
            items: (await s.listItems(n.id)).map((i) => [i.itemId, i.payload, i.publisher, i.publishedAt.toISOString()]),
            affiliations: await s.listAffiliations(n.id),
            subscriptions: (await s.listSubscriptions(n.id)).map((x) => [x.jid, x.subid]),
          });
        }
        return out;
      };
      assert.deepEqual(await dump(other), await dump(storage));
    } finally {
      await h.close();
    }
  } finally {
    await fresh.drop();
  }
});

/** `prosody-migrator` as installed, with its data directory (where mod_storage_xep0227 keeps `<jid>.xml`) moved to `dataDir`. */
async function runProsodyMigrator(workDir: string, dataDir: string, input: string, output: string, writable: string[]): Promise<void> {
  const script = (await readFile('/usr/bin/prosody-migrator', 'utf8')).replace(/^CFG_DATADIR=.*$/m, `CFG_DATADIR=${JSON.stringify(dataDir)};`);
  await writeFile(join(workDir, 'prosody-migrator.lua'), script);
  await writeFile(join(workDir, 'migrator.cfg.lua'), `${input}\n${output}\n`);
  // run as root it switches to the prosody user: everything it touches must be open to it
  await execFileAsync('chmod', ['-R', 'a+rwX', workDir, dataDir, ...writable]);
  await execFileAsync('lua5.4', [join(workDir, 'prosody-migrator.lua'), `--config=${join(workDir, 'migrator.cfg.lua')}`, 'input', 'output'], { cwd: workDir, timeout: 60_000 }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`prosody-migrator failed: ${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
}

test('the way back: npm run export --user, prosody-migrator (xep0227 -> internal) into a fresh Prosody, whose own mod_pep serves the same items and configs', async () => {
  // its own directory: the migrator runs as the prosody user, which may not enter the harness's 0700 ones
  const work = await mkdtemp(join(tmpdir(), 'dbroker-way-back-'));
  const xmlDir = join(work, 'xml');
  await mkdir(xmlDir, { recursive: true });
  // mod_storage_xep0227 reads one account per file, named <jid>.xml
  await execFileAsync(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/export.ts', '--user', ALICE, '--file', join(xmlDir, `${ALICE}.xml`)], { cwd: ROOT, env: { ...process.env, DATABASE_URL: temp.url }, timeout: 60_000 });
  const back = await startProsody({ pepHost: true, delegations: false, privileges: false, logLevel: 'warn', users: ['alice', 'bob'].map((user) => ({ user, password: 'pw', host: PEP_HOST })) });
  const clients2: Client[] = [];
  try {
    const stores = `hosts = { [${JSON.stringify(PEP_HOST)}] = { "pep-pubsub" } }`;
    await chmod(back.dir, 0o777);
    const backData = join(back.dir, 'data');
    await runProsodyMigrator(work, xmlDir, `input { type = "xep0227"; ${stores} }`, `output { type = "internal"; path = ${JSON.stringify(backData)}; ${stores} }`, [backData]);
    // mod_pep reads a user's nodes from storage when that user's PEP service is first used: now
    const a = await connectClient({ port: back.c2sPort, user: 'alice', password: 'pw', domain: PEP_HOST, resource: 'back' });
    clients2.push(a);
    for (const node of NODES) {
      const want = native.get(node)!;
      const items = (await iq(a, itemsIq(node))).getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item');
      assert.deepEqual(items.map((i) => i.attrs.id).sort(), want.items.map((i) => i.id).sort(), node);
      for (const i of items) assert.ok(sameXml(i.getChildElements()[0]!, want.items.find((w) => w.id === i.attrs.id)!.payload), `${node}/${i.attrs.id}`);
      const config = formValues((await iq(a, ownerIq('get', xml('configure', { node })))).getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('configure')!);
      for (const key of ['pubsub#access_model', 'pubsub#max_items', 'pubsub#send_last_published_item', 'pubsub#publish_model']) assert.deepEqual(config[key], want.config[key], `${node} ${key}`);
      const affs = (await iq(a, ownerIq('get', xml('affiliations', { node })))).getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('affiliations')!.getChildren('affiliation');
      assert.deepEqual(Object.fromEntries(affs.map((x) => [x.attrs.jid, x.attrs.affiliation])), want.affiliations, `${node} affiliations`);
    }
  } finally {
    await closeAll(clients2);
    await back.stop();
    await rm(work, { recursive: true, force: true });
  }
});
