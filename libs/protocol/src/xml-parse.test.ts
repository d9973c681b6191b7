import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { ProtocolError } from './errors';
import { byteLength, parseXml, stripWhitespace } from './xml-parse';

function rejects(text: string, code: string, message: RegExp | string, opts = {}): void {
  assert.throws(
    () => parseXml(text, opts),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
      assert.equal(e.code, code);
      if (typeof message === 'string') assert.ok(e.message.includes(message), e.message);
      else assert.match(e.message, message);
      return true;
    },
  );
}

describe('parseXml', () => {
  it('parses one element with attributes, text, namespaces and children', () => {
    const el = parseXml(`<iq xmlns='jabber:client' type="get" id='a&amp;b'><query xmlns='jabber:iq:version'/>t&lt;x&gt;</iq>`);
    assert.equal(el.name, 'iq');
    assert.deepEqual(el.attrs, { xmlns: 'jabber:client', type: 'get', id: 'a&b' });
    assert.equal(el.getChild('query')?.getNS(), 'jabber:iq:version');
    assert.equal(el.getText(), 't<x>');
    assert.equal(el.getChild('query')?.parent, el);
  });

  it('decodes character references and keeps CDATA as text', () => {
    const el = parseXml('<a>&#65;&#x1F600;<![CDATA[<b>&amp;]]>z</a>');
    assert.deepEqual(el.children, ['A😀<b>&amp;z']);
  });

  it('normalizes line ends in text and whitespace in attribute values (XML 1.0 §2.11, §3.3.3)', () => {
    const el = parseXml("<a v='x\ty\r\nz' w='&#10;'>1\r\n2\r3</a>");
    assert.equal(el.attrs.v, 'x y z');
    assert.equal(el.attrs.w, '\n');
    assert.equal(el.getText(), '1\n2\n3');
  });

  it('accepts whitespace around the root and inside tags', () => {
    const el = parseXml('\n  <a  b = "1"\n  ><c\n/></a  >\n');
    assert.equal(el.toString(), '<a b="1"><c/></a>');
  });

  it('resolves declared prefixes', () => {
    const el = parseXml(`<s:x xmlns:s='urn:s' xml:lang='en'><s:y s:attr='1'/></s:x>`);
    assert.equal(el.getNS(), 'urn:s');
    assert.equal(el.getChildElements()[0]?.getNS(), 'urn:s');
  });

  it('round-trips ltx serialization', () => {
    const original = xml('iq', { type: 'set', id: `q"'<>&` }, xml('x', { xmlns: 'urn:x' }, 'a & b < c > d', xml('y')));
    assert.equal(parseXml(original.toString()).toString(), original.toString());
  });

  const malformed: Array<[string, string, string]> = [
    ['', 'malformed-xml', 'no root element'],
    ['   ', 'malformed-xml', 'no root element'],
    ['<a>', 'malformed-xml', 'unexpected end of input inside <a>'],
    ['<a/><b/>', 'malformed-xml', 'more than one root element'],
    ['<a/>text', 'malformed-xml', 'text after the root element'],
    ['text<a/>', 'malformed-xml', 'text before the root element'],
    ['<a></b>', 'malformed-xml', 'does not match'],
    ['<a><b></a></b>', 'malformed-xml', 'does not match'],
    ['<a b=c/>', 'malformed-xml', 'not quoted'],
    ['<a b/>', 'malformed-xml', "expected '='"],
    ['<a b="1"c="2"/>', 'malformed-xml', 'missing whitespace'],
    ['<a b="1" b="2"/>', 'malformed-xml', 'duplicate attribute b'],
    ['<a b="<"/>', 'malformed-xml', "'<' in the value"],
    ['<a>&unknown;</a>', 'malformed-xml', 'unknown entity'],
    ['<a>a & b</a>', 'malformed-xml', 'unescaped &'],
    ['<a>&#0;</a>', 'malformed-xml', 'illegal character'],
    ['<a>&#xD800;</a>', 'malformed-xml', 'illegal character'],
    ['<a>\u0000</a>', 'malformed-xml', 'illegal XML character U+0000'],
    ['<a>\uD800</a>', 'malformed-xml', 'illegal XML character U+D800'],
    ['<a>]]></a>', 'malformed-xml', "']]>'"],
    ['<a><![CDATA[x</a>', 'malformed-xml', 'unterminated CDATA'],
    ['<1a/>', 'malformed-xml', 'expected element name'],
    ['< a/>', 'malformed-xml', 'expected element name'],
    ['<p:a/>', 'malformed-xml', 'undeclared namespace prefix p'],
    ["<a p:b='1'/>", 'malformed-xml', 'undeclared namespace prefix p'],
    ["<a:b:c xmlns:a='x'/>", 'malformed-xml', 'not a valid qualified name'],
    ["<a xmlns=''/>", 'malformed-xml', 'empty default namespace'],
    ["<a xmlns:p=''/>", 'malformed-xml', 'bound to an empty name'],
    ["<a xmlns:xmlns='x'/>", 'malformed-xml', 'illegal declaration'],
    ["<a __proto__='x'/>", 'malformed-xml', '__proto__'],
    ['</a>', 'malformed-xml', 'end tag without a start tag'],
    ['<a><!-- hi --></a>', 'restricted-xml', 'comments'],
    ['<!-- hi --><a/>', 'restricted-xml', 'comments'],
    ['<?xml version="1.0"?><a/>', 'restricted-xml', 'processing instructions'],
    ['<a><?pi x?></a>', 'restricted-xml', 'processing instructions'],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 'restricted-xml', 'DTD'],
    ['<a/><!-- trailing -->', 'restricted-xml', 'comments'],
  ];
  for (const [text, code, message] of malformed) {
    it(`rejects ${JSON.stringify(text)} (${message})`, () => rejects(text, code, message));
  }

  it('rejects input over maxBytes, counting UTF-8 bytes', () => {
    rejects(`<a>${'x'.repeat(100)}</a>`, 'too-large', 'over the 50-byte limit', { maxBytes: 50 });
    // 10 code units, 40 bytes
    rejects(`<a>${'😀'.repeat(10)}</a>`, 'too-large', 'bytes', { maxBytes: 30 });
    assert.doesNotThrow(() => parseXml(`<a>${'x'.repeat(40)}</a>`, { maxBytes: 47 }));
  });

  it('rejects nesting over maxDepth', () => {
    rejects('<a><a><a><a/></a></a></a>', 'too-deep', 'exceeds 3 levels', { maxDepth: 3 });
    assert.doesNotThrow(() => parseXml('<a><a><a/></a></a>', { maxDepth: 3 }));
    rejects('<a>'.repeat(10_000) + '</a>'.repeat(10_000), 'too-deep', 'exceeds 128 levels', { maxBytes: 1e6 });
  });
});

describe('stripWhitespace', () => {
  const indented = parseXml(`<a>\n  <b>\n    <c> </c>\n  </b>\n  text\n</a>`);

  it('removes whitespace-only text nodes everywhere by default, on a copy', () => {
    assert.equal(stripWhitespace(indented).toString(), '<a><b><c/></b>\n  text\n</a>');
    assert.equal(indented.children.length, 3);
  });

  it('limits the cleaning to the first levels when asked', () => {
    assert.equal(stripWhitespace(indented, { levels: 1 }).toString(), '<a><b>\n    <c> </c>\n  </b>\n  text\n</a>');
  });

  it("keeps xml:space='preserve' subtrees", () => {
    const el = parseXml(`<a> <pre xml:space='preserve'> <b/> </pre> </a>`);
    assert.equal(stripWhitespace(el).toString(), `<a><pre xml:space="preserve"> <b/> </pre></a>`);
  });
});

describe('byteLength', () => {
  it('counts UTF-8 bytes of the serialization', () => {
    assert.equal(byteLength(xml('a', {}, 'é')), '<a>é</a>'.length + 1);
  });
});

it('a re-rooted inner iq keeps the prefix declarations it uses and leaves the stream root\'s behind', async () => {
  const { parseForwardedIq } = await import('./delegation');
  const stream = parseXml(
    `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:g='urn:geo' xmlns='jabber:component:accept'><iq from='localhost' to='pubsub.localhost' id='f1' type='set'><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' from='a@localhost/r' id='i1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><g:loc/></item></publish></pubsub></iq></forwarded></delegation></iq></stream:stream>`,
  );
  const parsed = parseForwardedIq(stream.getChildElements()[0]!, { serverDomain: 'localhost', componentDomain: 'pubsub.localhost', maxBytes: 65536 });
  assert.ok(parsed.ok);
  const text = parsed.value.inner.toString();
  assert.doesNotMatch(text, /xmlns:stream/);
  assert.match(text, /xmlns:g="urn:geo"/);
});
