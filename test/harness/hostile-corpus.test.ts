import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { HOSTILE_CORPUS, SERVER_MAX_DEPTH, type HostileContext } from './hostile-corpus';

// The corpus must reach the broker: every IQ and caps answer is well-formed restricted XML (else the XMPP
// server closes the stream and the shape tests the server, not us) and under the servers' 256 KiB stanza
// limit, with room for the delegation wrapper the server adds.
const LIMIT = 262_144 - 2_048;
/** Only well-formedness and size are checked here: the shapes are over the broker's other limits on purpose. */
const CHECK = { maxBytes: LIMIT, maxDepth: 10_000, maxElements: Infinity, maxAttributes: Infinity, maxAttributeBytes: Infinity } as const;

const ctx = (server: keyof typeof SERVER_MAX_DEPTH): HostileContext => ({
  domain: 'localhost', component: 'pubsub.localhost', hostile: 'mallory@localhost', victim: 'bob@localhost', good: 'alice@localhost',
  victimOpenNode: 'urn:victim:open', victimPrivateNode: 'urn:victim:private', spoofNode: 'urn:hostile:spoof', maxDepth: SERVER_MAX_DEPTH[server],
});

test('at least 40 distinct shapes, every name once', () => {
  const names = HOSTILE_CORPUS.map((s) => s.name);
  assert.ok(names.length >= 40, `${names.length} shapes`);
  assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), []);
});

for (const server of ['prosody', 'ejabberd'] as const) {
  test(`${server}: every IQ shape and caps answer is well-formed, under the stanza limit, and carries its id`, () => {
    const c = ctx(server);
    for (const shape of HOSTILE_CORPUS) {
      if (shape.kind === 'iq') {
        for (const i of [0, (shape.burst ?? 1) - 1]) {
          const id: string = shape.id ? shape.id(`t-${i}`) : `t-${i}`;
          const text = shape.build(c, id, i);
          assert.ok(Buffer.byteLength(text) <= LIMIT, `${shape.name}: ${Buffer.byteLength(text)} bytes`);
          const el = parseXml(text, CHECK);
          assert.equal(el.name, 'iq', shape.name);
          assert.equal(el.attrs.id, id, shape.name);
        }
      } else if (shape.kind === 'caps') {
        const text = shape.answer({ id: 'disco1', from: 'pubsub.localhost', node: 'https://hostile.example/client#v' }, c);
        if (text === null) continue;
        assert.ok(Buffer.byteLength(text) <= LIMIT, `${shape.name}: ${Buffer.byteLength(text)} bytes`);
        assert.equal(parseXml(text, CHECK).attrs.id, 'disco1', shape.name);
      }
    }
  });
}

test('the deepest shapes stay within what each server survives', () => {
  const depth = (text: string) => {
    let d = 0;
    let max = 0;
    for (const m of text.matchAll(/<(\/?)[^>]*?(\/?)>/g)) {
      if (m[1]) d--;
      else if (!m[2]) max = Math.max(max, ++d);
    }
    return max;
  };
  for (const server of ['prosody', 'ejabberd'] as const) {
    const c = ctx(server);
    for (const shape of HOSTILE_CORPUS) {
      if (shape.kind !== 'iq') continue;
      assert.ok(depth(shape.build(c, 'x', 0)) <= SERVER_MAX_DEPTH[server] + 10, `${server}: ${shape.name}`);
    }
  }
});
