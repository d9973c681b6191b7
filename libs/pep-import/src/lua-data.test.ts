import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LuaDataError, LuaTable, parseLuaRecords, parseLuaReturn, type LuaValue } from './lua-data';

// Prosody's util/serialization output (as in a real pep/<user>.dat written by Prosody 0.12 in the e2e test)
const KEYVAL = `return {
	["urn:xmpp:bookmarks:1"] = {
		["subscribers"] = {};
		["affiliations"] = {
			["bob@pep.localhost"] = "member";
		};
		["config"] = {
			["persist_items"] = true;
			["access_model"] = "whitelist";
			["max_items"] = "max";
		};
		["name"] = "urn:xmpp:bookmarks:1";
	};
};
`;

test('a keyval file: nested tables, booleans, strings', () => {
  const v = parseLuaReturn(KEYVAL);
  assert.ok(v instanceof LuaTable);
  const node = v.get('urn:xmpp:bookmarks:1') as LuaTable;
  const config = node.get('config') as LuaTable;
  assert.equal(config.get('persist_items'), true);
  assert.equal(config.get('access_model'), 'whitelist');
  assert.equal((node.get('affiliations') as LuaTable).get('bob@pep.localhost'), 'member');
  assert.equal((node.get('subscribers') as LuaTable).entries.size, 0);
});

test('archive records: positional children, numbers, decimal escapes as UTF-8 bytes', () => {
  const recs = parseLuaRecords(`item({
	"al\\195\\169\\n";
	{ ["name"] = "x"; [2] = 1.5e3, -7, 0x10 };
	["when"] = 1796426473.25;
	["name"] = "data";
});
item({ name = 'y', [true] = false, [[long
string]] });
`);
  assert.equal(recs.length, 2);
  const a = recs[0] as LuaTable;
  assert.deepEqual(a.array().slice(0, 1), ['alé\n']);
  assert.equal(a.get('when'), 1796426473.25);
  const inner = a.get(2) as LuaTable;
  assert.equal(inner.get('name'), 'x');
  assert.deepEqual(inner.array(), [-7, 16]);
  assert.equal(inner.get(2), 16); // the positional entry after `[2] =` wins
  const b = recs[1] as LuaTable;
  assert.equal(b.get('name'), 'y');
  assert.equal(b.get(true), false);
  assert.deepEqual(b.array(), ['long\nstring']);
});

test('never evaluates: calls, variables, operators and unknown wrappers are syntax errors', () => {
  for (const src of ['return os.execute("rm -rf /")', 'return { x = y }', 'return 1 + 1', 'return { [f()] = 1 }', 'return "a" .. "b"', 'return {} extra']) {
    assert.throws(() => parseLuaReturn(src), LuaDataError, src);
  }
  assert.throws(() => parseLuaRecords('evil({});'), LuaDataError);
  assert.throws(() => parseLuaRecords('item({}); item({'), LuaDataError);
  assert.throws(() => parseLuaReturn('return "unterminated'), LuaDataError);
  assert.throws(() => parseLuaReturn('return "\\400"'), LuaDataError);
});

test('bounded: depth, entries and length limits', () => {
  const deep = `return ${'{'.repeat(100)}${'}'.repeat(100)}`;
  assert.throws(() => parseLuaReturn(deep), /nested deeper than 64/);
  assert.doesNotThrow(() => parseLuaReturn(`return ${'{'.repeat(60)}${'}'.repeat(60)}`));
  const many = `return { ${'1,'.repeat(50)} }`;
  assert.throws(() => parseLuaReturn(many, { maxDepth: 8, maxEntries: 10, maxChars: 1e6 }), /more than 10 table entries/);
  assert.throws(() => parseLuaReturn('return "aaaa"', { maxDepth: 8, maxEntries: 10, maxChars: 5 }), /longer than 5/);
});

/** Writes a value as util/serialization does (strings with %q-like decimal escapes). */
function serialize(v: LuaValue): string {
  if (v === null) return 'nil';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return `"${[...Buffer.from(v, 'utf8')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, "0")}`)).join('')}"`;
  return `{ ${[...v.entries].map(([k, x]) => `[${serialize(k)}] = ${serialize(x)};`).join(' ')} }`;
}

test('round trip of serialized values (property)', () => {
  const leaf = fc.oneof(fc.string({ unit: 'grapheme' }), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)));
  const tree = fc.letrec<{ v: LuaValue }>((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie('v')), { maxLength: 5 }).map((es) => {
      const t = new LuaTable();
      for (const [k, x] of es) t.entries.set(k, x);
      return t;
    })),
  })).v;
  fc.assert(
    fc.property(tree, (v) => {
      assert.deepEqual(parseLuaReturn(`return ${serialize(v)};`), v);
    }),
    { numRuns: 300 },
  );
});

test('hostile garbage never throws anything but LuaDataError (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        parseLuaRecords(s);
        parseLuaReturn(`return ${s}`);
      } catch (err) {
        assert.ok(err instanceof LuaDataError, String(err));
      }
    }),
    { numRuns: 1000 },
  );
});
