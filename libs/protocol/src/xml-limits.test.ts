import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from './errors';
import { parseXml } from './xml-parse';
import { DEFAULT_XML_LIMITS, STORED_XML_LIMITS, resolveXmlLimits, utf8Length, type XmlLimits } from './xml-limits';

function rejects(text: string, code: string, opts: Partial<XmlLimits> = {}): void {
  assert.throws(
    () => parseXml(text, opts),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      return true;
    },
  );
}

const nest = (n: number) => '<a>'.repeat(n) + '</a>'.repeat(n);

describe('parseXml limits (enforced while reading)', () => {
  it('depth: at the limit parses, one more is too-deep; 8,000 levels fail fast without touching the stack', () => {
    assert.equal(parseXml(nest(10), { maxDepth: 10 }).name, 'a');
    rejects(nest(11), 'too-deep', { maxDepth: 10 });
    const t0 = performance.now();
    rejects(nest(8000), 'too-deep');
    rejects(nest(200_000), 'too-deep', { maxBytes: Number.POSITIVE_INFINITY });
    assert.ok(performance.now() - t0 < 2000);
  });

  it('element count: root included; 100k siblings refused', () => {
    assert.equal(parseXml(`<r>${'<c/>'.repeat(9)}</r>`, { maxElements: 10 }).children.length, 9);
    rejects(`<r>${'<c/>'.repeat(10)}</r>`, 'too-many-elements', { maxElements: 10 });
    rejects(`<r>${'<c/>'.repeat(100_000)}</r>`, 'too-many-elements', { maxBytes: 1e7 });
  });

  it('attributes per element: namespace declarations count', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}='1'`).join('');
    assert.equal(Object.keys(parseXml(`<r${attrs(8)}/>`, { maxAttributes: 8 }).attrs).length, 8);
    rejects(`<r${attrs(9)}/>`, 'too-many-attributes', { maxAttributes: 8 });
    rejects(`<r xmlns='urn:x'${attrs(8)}/>`, 'too-many-attributes', { maxAttributes: 8 });
    rejects(`<r${attrs(10_000)}/>`, 'too-many-attributes', { maxBytes: 1e7 });
  });

  it('attribute value bytes: UTF-8 as sent (escaped), at and over', () => {
    assert.equal(parseXml(`<r v='${'x'.repeat(100)}'/>`, { maxAttributeBytes: 100 }).attrs.v?.length, 100);
    rejects(`<r v='${'x'.repeat(101)}'/>`, 'attribute-too-long', { maxAttributeBytes: 100 });
    assert.ok(parseXml(`<r v='${'é'.repeat(50)}'/>`, { maxAttributeBytes: 100 }));
    rejects(`<r v='${'é'.repeat(50)}x'/>`, 'attribute-too-long', { maxAttributeBytes: 100 });
    rejects(`<r v='${'&amp;'.repeat(21)}'/>`, 'attribute-too-long', { maxAttributeBytes: 100 });
    rejects(`<r v='${'x'.repeat(1_000_000)}'/>`, 'attribute-too-long', { maxBytes: 1e7 });
  });

  it('text bytes: per element, all text nodes and CDATA together; a base64 avatar filling the stanza passes by default', () => {
    assert.equal(parseXml(`<r>${'t'.repeat(100)}<c/></r>`, { maxTextBytes: 100 }).children.length, 2);
    rejects(`<r>${'t'.repeat(60)}<c/>${'t'.repeat(41)}</r>`, 'text-too-long', { maxTextBytes: 100 });
    rejects(`<r><![CDATA[${'t'.repeat(101)}]]></r>`, 'text-too-long', { maxTextBytes: 100 });
    assert.ok(parseXml(`<r><a>${'t'.repeat(100)}</a><b>${'t'.repeat(100)}</b></r>`, { maxTextBytes: 100 }));
    const avatar = `<data xmlns='urn:xmpp:avatar:data'>${'QUJD'.repeat((DEFAULT_XML_LIMITS.maxBytes - 100) / 4)}</data>`;
    assert.ok(parseXml(avatar));
    rejects(`<r>${'t'.repeat(1_000_000)}</r>`, 'text-too-long', { maxBytes: 1e7, maxTextBytes: DEFAULT_XML_LIMITS.maxTextBytes });
  });

  it('total bytes', () => {
    const doc = `<r>${'t'.repeat(93)}</r>`;
    assert.equal(utf8Length(doc), 100);
    assert.ok(parseXml(doc, { maxBytes: 100 }));
    rejects(`<r>${'t'.repeat(94)}</r>`, 'too-large', { maxBytes: 100 });
  });

  it('entity tricks: no DTD means no entity expansion; references decode once, counted as sent', () => {
    rejects(`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>`, 'restricted-xml');
    rejects('<r>&a;</r>', 'malformed-xml');
    rejects('<r>&#0;</r>', 'malformed-xml');
    assert.equal(parseXml('<r>&amp;lt;</r>').getText(), '&lt;');
    assert.equal(parseXml('<r>&#x10FFFF;</r>').getText(), '\u{10FFFF}');
  });

  it('names over 1024 characters are refused', () => {
    assert.ok(parseXml(`<${'n'.repeat(1024)}/>`));
    rejects(`<${'n'.repeat(1025)}/>`, 'name-too-long');
  });

  it('resolveXmlLimits: defaults, the text limit follows maxBytes, stored XML keeps the depth cap only', () => {
    assert.deepEqual(resolveXmlLimits(), DEFAULT_XML_LIMITS);
    assert.equal(resolveXmlLimits({ maxBytes: 1_000_000 }).maxTextBytes, 1_000_000);
    assert.equal(resolveXmlLimits({ maxBytes: 1_000_000, maxTextBytes: 10 }).maxTextBytes, 10);
    const stored = resolveXmlLimits(STORED_XML_LIMITS);
    assert.equal(stored.maxDepth, DEFAULT_XML_LIMITS.maxDepth);
    assert.equal(stored.maxElements, Number.POSITIVE_INFINITY);
    assert.ok(parseXml(`<r>${'<c/>'.repeat(20_000)}</r>`, STORED_XML_LIMITS));
    rejects(nest(200), 'too-deep', STORED_XML_LIMITS);
  });
});
