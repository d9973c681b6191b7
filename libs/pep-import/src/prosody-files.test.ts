import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createProsodyFileSource, decodeDm, encodeDm, encodeStore } from './prosody-files';
import type { ImportUser } from './model';

// Path encoding as util/datamanager.lua does it, and what a hostile data directory can and cannot do.

const dir = await mkdtemp(join(tmpdir(), 'dbroker-prosody-files-'));
after(() => rm(dir, { recursive: true, force: true }));

test('datamanager encodings: every non-alphanumeric byte as %xx (store names keep _), reversible, never a path separator or dot', () => {
  assert.equal(encodeDm('pep.localhost'), 'pep%2elocalhost');
  assert.equal(encodeDm('ali_ce'), 'ali%5fce');
  assert.equal(encodeStore('pep_urn:xmpp:avatar:data'), 'pep_urn%3axmpp%3aavatar%3adata');
  assert.equal(encodeDm('é'), '%c3%a9');
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      for (const e of [encodeDm(s), encodeStore(s)]) {
        assert.ok(!e.includes('/') && !e.includes('.') && !e.includes('\\'));
        assert.equal(decodeDm(e), s);
      }
    }),
  );
});

test('a node named like a path stays inside its store directory; an oversized file is reported, not read', async () => {
  const host = join(dir, 'example%2eorg');
  await mkdir(join(host, 'pep'), { recursive: true });
  await writeFile(
    join(host, 'pep', 'alice.dat'),
    'return { ["../../../etc/x"] = { ["config"] = {}; ["name"] = "../../../etc/x"; }; ["big"] = { ["config"] = {}; }; };',
  );
  // what a traversal would have read, and the real (encoded) place of that node's items
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'x.list'), 'item({ ["name"] = "evil"; ["key"] = "1"; ["when"] = 1; });');
  await mkdir(join(host, encodeStore('pep_../../../etc/x')), { recursive: true });
  await mkdir(join(host, 'pep_big'), { recursive: true });
  await writeFile(join(host, 'pep_big', 'alice.list'), `item({ ["name"] = "x"; ["key"] = "1"; ["when"] = 1; ${'["a"] = 1; '.repeat(200)} });`);
  const users: ImportUser[] = [];
  for await (const u of createProsodyFileSource({ dataPath: dir, host: 'example.org', maxFileBytes: 1000 }).users()) users.push(u);
  assert.equal(users.length, 1);
  const alice = users[0]!;
  assert.deepEqual(alice.nodes.map((n) => [n.name, n.items.length]), [['../../../etc/x', 0]]);
  assert.equal(alice.problems.length, 1);
  assert.equal(alice.problems[0]!.node, 'big');
  assert.match(alice.problems[0]!.message, /more than the 1000 allowed/);
});

test('a missing host or pep directory is no accounts, not an error', async () => {
  const src = createProsodyFileSource({ dataPath: join(dir, 'nowhere'), host: 'example.org' });
  assert.equal(await src.countUsers(), 0);
  for await (const _ of src.users()) assert.fail('no users expected');
});

