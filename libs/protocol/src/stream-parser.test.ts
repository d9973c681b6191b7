import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Element } from '@xmpp/xml';
import { ProtocolError } from './errors';
import { replyToRejected } from './rejected-stanza';
import { BoundedStreamParser, type RejectedStanza } from './stream-parser';
import type { XmlLimits } from './xml-limits';

const HEADER = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='pubsub.localhost' id='s1'>";
const CTX = { serverDomain: 'localhost', componentDomain: 'pubsub.localhost' };

interface Run {
  parser: BoundedStreamParser;
  root: Element | undefined;
  elements: Element[];
  rejected: RejectedStanza[];
  errors: ProtocolError[];
  ended: boolean;
}

function run(chunks: string[], limits: Partial<XmlLimits> = {}): Run {
  const parser = new BoundedStreamParser(limits);
  const r: Run = { parser, root: undefined, elements: [], rejected: [], errors: [], ended: false };
  parser.on('start', (el) => (r.root = el));
  parser.on('element', (el) => r.elements.push(el));
  parser.on('rejected', (x) => r.rejected.push(x));
  parser.on('error', (e) => r.errors.push(e));
  parser.on('end', () => (r.ended = true));
  for (const c of chunks) parser.write(c);
  return r;
}

const forwarded = (payload: string, outerExtra = '', innerType = 'get') =>
  `<iq from='localhost' to='pubsub.localhost' id='o1' type='set'${outerExtra}><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
  `<iq xmlns='jabber:client' from='alice@localhost/res' to='alice@localhost' id='in1' type='${innerType}'>${payload}</iq></forwarded></delegation></iq>`;
const next = "<iq from='localhost' to='pubsub.localhost' id='next' type='get'><ping xmlns='urn:xmpp:ping'/></iq>";
const nest = (n: number) => '<a>'.repeat(n) + '</a>'.repeat(n);

function assertRejectedThenNext(r: Run, code: string): RejectedStanza {
  assert.deepEqual(r.errors, []);
  assert.equal(r.rejected.length, 1, 'one rejected stanza');
  assert.equal(r.rejected[0]!.code, code, r.rejected[0]!.reason);
  assert.equal(r.elements.length, 1, 'the next stanza is parsed');
  assert.equal(r.elements[0]!.attrs.id, 'next');
  return r.rejected[0]!;
}

describe('BoundedStreamParser', () => {
  it('parses a stream like the ltx parser: header, stanzas with the stream root as parent, end', () => {
    const stanza = "<iq type='get' id='1' from='localhost'><query xmlns='urn:x' a='&lt;&amp;&#65;'>t&gt;<![CDATA[<c>]]></query></iq>";
    const r = run([HEADER, ' \n ', stanza, '  ', '</stream:stream>']);
    assert.equal(r.root?.name, 'stream:stream');
    assert.equal(r.root?.attrs.id, 's1');
    assert.equal(r.elements.length, 1);
    const iq = r.elements[0]!;
    assert.equal(iq.parent, r.root);
    assert.equal(iq.getNS(), 'jabber:component:accept');
    assert.equal(iq.getChild('query')?.attrs.a, '<&A');
    assert.equal(iq.getChild('query')?.getText(), 't><c>');
    assert.equal(r.root?.children.length, 0, 'whitespace keep-alives are not kept on the root');
    assert.ok(r.ended);
  });

  it('gives the same result whatever the chunking (every split point, multi-byte characters)', () => {
    const text = HEADER + forwarded("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='é😀'>x&amp;y<![CDATA[]]]]><b c=\"'\"/></items></pubsub>") + next;
    const whole = run([text]);
    assert.equal(whole.elements.length, 2);
    const expected = whole.elements.map((e) => e.toString());
    for (let i = 1; i < text.length; i += 7) {
      const r = run([text.slice(0, i), text.slice(i)]);
      assert.deepEqual(r.elements.map((e) => e.toString()), expected, `split at ${i}`);
    }
    const byChar = run([...text]);
    assert.deepEqual(byChar.elements.map((e) => e.toString()), expected);
  });

  it('8,000-deep nesting (~56 KB): rejected while reading, the skeleton keeps the delegation chain, the stream lives on', () => {
    const text = forwarded(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>${nest(8000)}</item></publish></pubsub>`, '', 'set');
    const r = run([HEADER, text, next]);
    const rej = assertRejectedThenNext(r, 'too-deep');
    assert.equal(rej.name, 'iq');
    assert.equal(rej.stanza.attrs.id, 'o1');
    const inner = rej.stanza.getChild('delegation')?.getChild('forwarded')?.getChild('iq');
    assert.deepEqual(inner?.attrs, { xmlns: 'jabber:client', id: 'in1', from: 'alice@localhost/res', to: 'alice@localhost', type: 'set' });
    const reply = replyToRejected(rej, CTX);
    assert.equal(reply.kind, 'wrapped');
    assert.equal(
      reply.kind === 'wrapped' && reply.reply.toString(),
      `<iq type="result" id="o1" from="pubsub.localhost" to="localhost"><delegation xmlns="urn:xmpp:delegation:2"><forwarded xmlns="urn:xmpp:forward:0"><iq xmlns="jabber:client" type="error" id="in1" from="alice@localhost" to="alice@localhost/res"><error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><payload-too-big xmlns="http://jabber.org/protocol/pubsub#errors"/></error></iq></forwarded></delegation></iq>`,
    );
  });

  it('every limit: at the limit parsed, just over it rejected, the next stanza parsed', () => {
    const limits = { maxBytes: 4096, maxDepth: 8, maxElements: 20, maxAttributes: 6, maxAttributeBytes: 100, maxTextBytes: 200 };
    const env = (body: string) => `<iq id='x' type='get'>${body}</iq>`;
    const cases: Array<[string, string, string]> = [
      ['too-deep', env(nest(7)), env(nest(8))],
      ['too-many-elements', env('<c/>'.repeat(19)), env('<c/>'.repeat(20))],
      ['too-many-attributes', env(`<c ${Array.from({ length: 6 }, (_, i) => `a${i}='1'`).join(' ')}/>`), env(`<c ${Array.from({ length: 7 }, (_, i) => `a${i}='1'`).join(' ')}/>`)],
      ['attribute-too-long', env(`<c v='${'é'.repeat(50)}'/>`), env(`<c v='${'é'.repeat(50)}x'/>`)],
      ['text-too-long', env(`<c>${'t'.repeat(150)}<d/>${'&amp;'.repeat(10)}</c>`), env(`<c>${'t'.repeat(150)}<d/>${'&amp;'.repeat(10)}t</c>`)],
      ['name-too-long', env(`<${'n'.repeat(1024)}/>`), env(`<${'n'.repeat(1025)}/>`)],
    ];
    for (const [code, at, over] of cases) {
      if (at) {
        const ok = run([HEADER, at, next], limits);
        assert.deepEqual(ok.rejected.map((x) => x.reason), [], `${code}: at the limit`);
        assert.equal(ok.elements.length, 2, `${code}: at the limit`);
      }
      if (over) assertRejectedThenNext(run([HEADER, over, next], limits), code);
    }
    // Total bytes: exactly at the limit, then one byte more.
    const sized = (n: number) => `<iq id='x' type='get'><c>${'t'.repeat(n - 34)}</c></iq>`;
    assert.equal(Buffer.byteLength(sized(4096)), 4096);
    assert.equal(run([HEADER, sized(4096), next], { ...limits, maxTextBytes: 8192 }).elements.length, 2);
    assertRejectedThenNext(run([HEADER, sized(4097), next], { ...limits, maxTextBytes: 8192 }), 'too-large');
  });

  it('huge inputs are skipped in bounded memory: 100k siblings, a 5 MB attribute, 5 MB of text, 10k attributes', () => {
    const big = 'x'.repeat(5_000_000);
    const inputs: Array<[string, string]> = [
      ['too-many-elements', forwarded(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'>${'<s/>'.repeat(100_000)}</items></pubsub>`)],
      ['attribute-too-long', forwarded(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${big}'/></pubsub>`)],
      ['text-too-long', forwarded(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'>${big}</items></pubsub>`)],
      ['too-many-attributes', forwarded(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items ${Array.from({ length: 10_000 }, (_, i) => `a${i}='1'`).join(' ')}/></pubsub>`)],
    ];
    for (const [code, text] of inputs) {
      // Socket-sized chunks, as the connection delivers them.
      const chunks = [HEADER];
      for (let i = 0; i < text.length; i += 65_536) chunks.push(text.slice(i, i + 65_536));
      chunks.push(next);
      const r = run(chunks, { maxBytes: 1e9, maxTextBytes: 262_144 });
      const rej = assertRejectedThenNext(r, code);
      assert.equal(rej.stanza.getChild('delegation')?.getChild('forwarded')?.getChild('iq')?.attrs.id, 'in1');
      const internals = r.parser as unknown as { text: string; attrValue: string; stack: unknown[] };
      assert.equal(internals.text.length + internals.attrValue.length + internals.stack.length, 0);
    }
  });

  it('a limit crossed in the outer start tag still captures the inner IQ for the wrapper', () => {
    const attrs = Array.from({ length: 100 }, (_, i) => ` z${i}='1'`).join('');
    const r = run([HEADER, forwarded("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'/></pubsub>", attrs), next]);
    const rej = assertRejectedThenNext(r, 'too-many-attributes');
    assert.equal(rej.stanza.attrs.from, 'localhost');
    const reply = replyToRejected(rej, CTX);
    assert.equal(reply.kind, 'wrapped');
    assert.match(reply.kind === 'wrapped' ? reply.reply.toString() : '', /<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
  });

  it('what is answered how: non-delegation requests, responses, messages', () => {
    const deep = nest(200);
    const get = run([HEADER, `<iq from='localhost' to='pubsub.localhost' id='g' type='get'>${deep}</iq>`, next]).rejected[0]!;
    const gr = replyToRejected(get, CTX);
    assert.equal(gr.kind, 'iq-error');
    assert.equal(gr.kind === 'iq-error' && gr.reply.attrs.type, 'error');
    const res = replyToRejected(run([HEADER, `<iq from='alice@localhost' to='pubsub.localhost' id='r' type='result'>${deep}</iq>`]).rejected[0]!, CTX);
    assert.equal(res.kind, 'response');
    assert.equal(res.kind === 'response' && res.asError.attrs.type, 'error');
    assert.equal(res.kind === 'response' && res.asError.attrs.from, 'alice@localhost');
    assert.equal(replyToRejected(run([HEADER, `<message from='localhost' id='m'>${deep}</message>`]).rejected[0]!, CTX).kind, 'none');
    // A forwarded IQ from someone else than the server: no wrapper (no client waits behind it).
    const spoofed = run([HEADER, forwarded(deep).replace("from='localhost'", "from='mallory@evil'")]).rejected[0]!;
    assert.equal(replyToRejected(spoofed, CTX).kind, 'iq-error');
  });

  it("xmlns='' and an attribute named __proto__ reject the stanza (unsupported-xml, bad-request), not the stream", () => {
    for (const body of ["<c xmlns=''/>", "<c __proto__='x'/>"]) {
      const r = run([HEADER, forwarded(body), next]);
      const rej = assertRejectedThenNext(r, 'unsupported-xml');
      const reply = replyToRejected(rej, CTX);
      assert.match(reply.kind === 'wrapped' ? reply.reply.toString() : '', /bad-request/);
    }
  });

  it('not well-formed or restricted XML is a stream error; later input is ignored', () => {
    const bad: Array<[string, string]> = [
      ['<iq><a></b></iq>', 'malformed-xml'],
      ['<iq a=b/>', 'malformed-xml'],
      ["<iq a='1'b='2'/>", 'malformed-xml'],
      ["<iq a='1' a='2'/>", 'malformed-xml'],
      ['<iq>&foo;</iq>', 'malformed-xml'],
      ['<iq>&#0;</iq>', 'malformed-xml'],
      ['<iq>\u0001</iq>', 'malformed-xml'],
      ['<p:iq/>', 'malformed-xml'],
      ['text', 'malformed-xml'],
      ['<iq><!-- c --></iq>', 'restricted-xml'],
      ['<!DOCTYPE x [<!ENTITY a "b">]>', 'restricted-xml'],
      ['<iq><?pi x?></iq>', 'restricted-xml'],
    ];
    for (const [text, code] of bad) {
      const r = run([HEADER, text, next]);
      assert.equal(r.errors.length, 1, text);
      assert.equal(r.errors[0]!.code, code, `${text}: ${r.errors[0]!.message}`);
      assert.equal(r.elements.length, 0, `${text}: nothing after the error`);
    }
    // No stream header within 4 KiB of input.
    assert.equal(run([' '.repeat(5000)]).errors.length, 1);
  });
});
