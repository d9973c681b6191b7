// Property tests: random mutations of valid stanzas never make the codecs throw, and whatever they
// accept satisfies the invariants the ingress relies on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Element } from '@xmpp/xml';
import {
  CLIENT_NS,
  buildErrorReplyWrapper,
  buildInnerReply,
  checkWorkerReply,
  isDelegationVersion,
  parseForwardedIq,
  parseGrantAdvertisement,
  parseOuterIdentity,
  wrapBrokenRequestError,
  wrapReply,
} from './delegation';
import type { DelegationContext, ForwardedRequest, ParseForwardedIqContext } from './delegation';
import { ProtocolError } from './errors';
import { isBareJid, isDomainJid, jidToString, parseJid } from './jid';
import type { Result } from './result';
import { StanzaError, isStanzaErrorCondition, stanzaErrorFromFailure } from './stanza-error';
import {
  CTX,
  EJABBERD_ADVERTISEMENT,
  EJABBERD_FORWARDED,
  LOCAL_CTX,
  PROSODY_ADVERTISEMENT,
  PROSODY_NO_TO,
  XEP_ADVERTISEMENT_V2,
  XEP_FORWARDED_V1,
  XEP_FORWARDED_V2,
  assertNoWhitespaceInWrapper,
  forwarded,
  innerIq,
} from './test-fixtures';
import { parseXml } from './xml-parse';
import { ElementClass, childElements, isElementNode } from './xml-util';

const RUNS = Number(process.env.FUZZ_RUNS ?? 600);

// ---------------------------------------------------------------------------------------------------
// A mutable tree model of a stanza, and mutations on it

type Node = { name: string; attrs: Record<string, string>; children: Array<Node | string> };

function toModel(el: Element): Node {
  return { name: el.name, attrs: { ...el.attrs }, children: el.children.map((c) => (typeof c === 'string' ? c : toModel(c))) };
}

function toElement(node: Node): Element {
  const el = new ElementClass(node.name, { ...node.attrs });
  for (const c of node.children) {
    if (typeof c === 'string') el.children.push(c);
    else el.cnode(toElement(c));
  }
  return el;
}

function copy(node: Node): Node {
  return { name: node.name, attrs: { ...node.attrs }, children: node.children.map((c) => (typeof c === 'string' ? c : copy(c))) };
}

function elements(node: Node, out: Node[] = []): Node[] {
  out.push(node);
  for (const c of node.children) if (typeof c !== 'string') elements(c, out);
  return out;
}

type Mutation =
  | { op: 'drop' | 'dup' | 'swap' | 'unwrap'; at: number; sub: number }
  | { op: 'rename' | 'wrap'; at: number; sub: number; name: string }
  | { op: 'setAttr'; at: number; key: string; value: string }
  | { op: 'delAttr'; at: number; key: string }
  | { op: 'text'; at: number; sub: number; text: string };

function mutate(root: Node, m: Mutation): void {
  const all = elements(root);
  const target = all[m.at % all.length] as Node;
  const kids = target.children;
  const i = 'sub' in m && kids.length > 0 ? m.sub % kids.length : 0;
  switch (m.op) {
    case 'drop':
      kids.splice(i, 1);
      break;
    case 'dup': {
      const c = kids[i];
      if (c !== undefined) kids.splice(i, 0, typeof c === 'string' ? c : copy(c));
      break;
    }
    case 'swap':
      if (kids.length > 1) {
        const j = (i + 1) % kids.length;
        [kids[i], kids[j]] = [kids[j] as Node | string, kids[i] as Node | string];
      }
      break;
    case 'unwrap': {
      const c = kids[i];
      if (c !== undefined && typeof c !== 'string') kids.splice(i, 1, ...c.children);
      break;
    }
    case 'rename':
      target.name = m.name;
      break;
    case 'wrap': {
      const c = kids[i];
      if (c !== undefined) kids.splice(i, 1, { name: m.name, attrs: {}, children: [c] });
      break;
    }
    case 'setAttr':
      target.attrs[m.key] = m.value;
      break;
    case 'delAttr':
      delete target.attrs[m.key];
      break;
    case 'text':
      kids.splice(i, 0, m.text);
      break;
  }
}

const NAMES = ['iq', 'delegation', 'forwarded', 'message', 'query', 'pubsub', 'delay', 'delegated', 'attribute', 'error', 'x', 'd:delegation'];
const KEYS = ['from', 'to', 'id', 'type', 'xmlns', 'namespace', 'name', 'node', 'xml:lang'];
const jidPart = fc.string({ unit: fc.constantFrom('a', 'B', 'é', '.', '-', '@', '/', ' ', '&', '\u0000', '\u202e', ':', '['), maxLength: 8 });
const attrValue = fc.oneof(
  fc.constantFrom(
    'capulet.lit', 'pubsub.capulet.lit', 'juliet@capulet.lit', 'juliet@capulet.lit/balcony', 'romeo@montague.lit/orchard',
    'montague.lit', 'capulet.lit/x', 'CAPULET.LIT', '', 'a@b@c', 'get', 'set', 'result', 'error', 'jabber:client',
    'urn:xmpp:delegation:1', 'urn:xmpp:delegation:2', 'urn:xmpp:delegation:3', 'urn:xmpp:forward:0', 'urn:xmpp:forward:1',
    'urn:xmpp:mam:2', 'urn:xmpp:delegation:2:bare:disco#info:*', 'localhost', 'pubsub.localhost', 'alice@localhost/phone',
  ),
  fc.tuple(jidPart, jidPart, jidPart).map(([l, d, r]) => `${l}@${d}/${r}`),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const textValue = fc.oneof(fc.constantFrom(' ', '\n', '\t\r\n  ', '\u00a0'), fc.string({ maxLength: 10 }));
const nat = fc.nat({ max: 1000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('drop' as const, 'dup' as const, 'swap' as const, 'unwrap' as const), at: nat, sub: nat }),
  fc.record({ op: fc.constantFrom('rename' as const, 'wrap' as const), at: nat, sub: nat, name: fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-z]{1,6}$/)) }),
  fc.record({ op: fc.constant('setAttr' as const), at: nat, key: fc.constantFrom(...KEYS), value: attrValue }),
  fc.record({ op: fc.constant('delAttr' as const), at: nat, key: fc.constantFrom(...KEYS) }),
  fc.record({ op: fc.constant('text' as const), at: nat, sub: nat, text: textValue }),
);
const mutations = fc.array(mutation, { maxLength: 4 });

function seeds(stanzas: Array<[string, DelegationContext]>): fc.Arbitrary<[Node, DelegationContext]> {
  return fc.constantFrom(...stanzas.map(([s, ctx]) => [toModel(parseXml(s)), ctx] as [Node, DelegationContext]));
}

// ---------------------------------------------------------------------------------------------------
// Invariants

function assertResultShape<T>(r: Result<T>): void {
  if (r.ok) return;
  assert.equal(typeof r.reason, 'string');
  assert.ok(r.reason.length > 0);
  assert.ok(isStanzaErrorCondition(r.condition), r.condition);
}

function assertWireSafe(el: Element): void {
  // What we send must be XML our own strict parser (and so any server) can read back.
  assert.doesNotThrow(() => parseXml(el.toString(), { maxBytes: 1e7 }));
}

function assertRequestInvariants(req: ForwardedRequest, ctx: DelegationContext, fromWire: boolean): void {
  assert.ok(isDomainJid(req.outerFrom, ctx.serverDomain), `outer from ${req.outerFrom}`);
  assert.ok(isDomainJid(req.outerTo, ctx.componentDomain), `outer to ${req.outerTo}`);
  assert.ok(isDelegationVersion(req.version));
  assert.ok(req.outerId.length > 0 && req.innerId.length > 0);
  assert.ok(req.innerType === 'get' || req.innerType === 'set');
  const server = parseJid(ctx.serverDomain)?.domain;
  const to = parseJid(req.to);
  assert.ok(to && isBareJid(req.to) && to.domain === server, `target ${req.to}`);
  const from = parseJid(req.from);
  assert.ok(from && from.domain !== parseJid(ctx.componentDomain)?.domain, `requester ${req.from}`);
  assert.equal(req.requesterBare, jidToString({ ...(from.local === undefined ? {} : { local: from.local }), domain: from.domain }));
  assert.ok(req.payloadNs.length > 0);
  // The normalized inner IQ: jabber:client, exactly one element child and nothing else.
  assert.equal(req.inner.attrs.xmlns, CLIENT_NS);
  assert.equal(req.inner.children.length, 1);
  assert.ok(isElementNode(req.inner.children[0]));
  assert.equal(req.inner.attrs.id, req.innerId);
  assert.equal(req.inner.attrs.type, req.innerType);
  assert.equal(req.inner.attrs.from, req.from);
  // the workers' copy carries the normalised target; the reply echoes the spelling received (req.to)
  assert.equal(req.inner.attrs.to, req.targetBare);

  // Whatever we build for an accepted request, we accept back, and it wraps cleanly.
  const result = buildInnerReply(req, 'result', req.payload);
  const error = buildInnerReply(req, 'error', new StanzaError('item-not-found', { text: 'x' }));
  for (const inner of [result, error]) {
    const checked = checkWorkerReply(req, inner);
    if (!checked.ok) assert.fail(checked.reason);
    const wrapped = wrapReply(req, checked.value);
    assert.equal(wrapped.attrs.type, 'result');
    assert.equal(wrapped.attrs.id, req.outerId);
    assert.equal(wrapped.attrs.to, req.outerFrom);
    assertNoWhitespaceInWrapper(wrapped);
    if (fromWire) assertWireSafe(wrapped);
  }
  assert.equal(buildErrorReplyWrapper(req, new StanzaError('bad-request')).attrs.type, 'result');
}

function checkForwarded(el: Element, ctx: ParseForwardedIqContext, fromWire: boolean): boolean {
  const r = parseForwardedIq(el, ctx);
  assertResultShape(r);
  if (r.ok) {
    assertRequestInvariants(r.value, ctx, fromWire);
    return true;
  }
  parseOuterIdentity(el);
  const wrapped = wrapBrokenRequestError(el, undefined, stanzaErrorFromFailure(r), ctx);
  if (wrapped) {
    assert.equal(wrapped.attrs.type, 'result');
    assert.ok(isDomainJid(wrapped.attrs.to ?? '', ctx.serverDomain));
    assertNoWhitespaceInWrapper(wrapped);
  }
  return false;
}

/** Serialize and parse again, as the wire would; ProtocolError is the only acceptable failure. */
function throughTheWire(el: Element): Element | null {
  try {
    return parseXml(el.toString(), { maxBytes: 1e6 });
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `parseXml threw ${String(e)}`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------

describe('fuzz: forwarded IQs', () => {
  it('never throws, and everything accepted satisfies the invariants', () => {
    let accepted = 0;
    const stanzas: Array<[string, DelegationContext]> = [
      [XEP_FORWARDED_V2, CTX],
      [XEP_FORWARDED_V1, CTX],
      [PROSODY_NO_TO, LOCAL_CTX],
      [EJABBERD_FORWARDED, LOCAL_CTX],
      [forwarded(innerIq(`from='juliet@capulet.lit/b' to='capulet.lit' id='q' type='get'`)), CTX],
    ];
    fc.assert(
      fc.property(seeds(stanzas), mutations, ([seed, ctx], muts) => {
        const model = copy(seed);
        for (const m of muts) mutate(model, m);
        const el = toElement(model);
        const fctx = { ...ctx, maxBytes: 65_536 };
        if (checkForwarded(el, fctx, false)) accepted += 1;
        const wire = throughTheWire(el);
        if (wire) checkForwarded(wire, fctx, true);
      }),
      { numRuns: RUNS * 3 },
    );
    // Not vacuous: unmutated and lightly mutated seeds get through.
    if (process.env.FUZZ_VERBOSE) console.log("accepted", accepted);
    assert.ok(accepted > RUNS / 10, `only ${accepted} accepted`);
  });
});

describe('fuzz: grant advertisements', () => {
  it('never throws, and accepted grants are unique, named and never the delegation namespace', () => {
    let accepted = 0;
    const stanzas: Array<[string, DelegationContext]> = [
      [XEP_ADVERTISEMENT_V2, CTX],
      [PROSODY_ADVERTISEMENT, LOCAL_CTX],
      [EJABBERD_ADVERTISEMENT, LOCAL_CTX],
    ];
    fc.assert(
      fc.property(seeds(stanzas), mutations, ([seed, ctx], muts) => {
        const model = copy(seed);
        for (const m of muts) mutate(model, m);
        for (const el of [toElement(model), throughTheWire(toElement(model))]) {
          if (!el) continue;
          const r = parseGrantAdvertisement(el, ctx);
          assertResultShape(r);
          if (!r.ok) continue;
          accepted += 1;
          assert.ok(isDomainJid(el.attrs.from ?? '', ctx.serverDomain));
          assert.ok(isDelegationVersion(r.value.version));
          const namespaces = r.value.grants.map((g) => g.namespace);
          assert.equal(new Set(namespaces).size, namespaces.length);
          for (const g of r.value.grants) {
            assert.ok(g.namespace.length > 0);
            assert.equal(g.kind === 'namespace', !g.namespace.startsWith('urn:xmpp:delegation:'), g.namespace);
            assert.equal(new Set(g.attributes).size, g.attributes.length);
            assert.ok(g.attributes.every((a) => a.length > 0));
          }
        }
      }),
      { numRuns: RUNS },
    );
    if (process.env.FUZZ_VERBOSE) console.log("accepted", accepted);
    assert.ok(accepted > RUNS / 10, `only ${accepted} accepted`);
  });
});

describe('fuzz: worker replies', () => {
  const req = (() => {
    const r = parseForwardedIq(parseXml(XEP_FORWARDED_V2), CTX);
    assert.ok(r.ok);
    return r.value;
  })();
  const replies = [
    buildInnerReply(req, 'result'),
    buildInnerReply(req, 'result', req.payload),
    buildInnerReply(req, 'error', new StanzaError('forbidden', { text: 'no' })),
  ].map(toModel);

  it('never throws, and accepted replies are addressed and shaped as the servers require', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...replies), mutations, (seed, muts) => {
        const model = copy(seed);
        for (const m of muts) mutate(model, m);
        const r = checkWorkerReply(req, toElement(model));
        assertResultShape(r);
        if (!r.ok) return;
        accepted += 1;
        const reply = r.value;
        assert.equal(reply.name, 'iq');
        assert.equal(reply.attrs.xmlns, CLIENT_NS);
        assert.equal(reply.attrs.id, req.innerId);
        assert.equal(reply.attrs.to, req.from);
        assert.equal(reply.attrs.from, req.to);
        assert.ok(reply.children.every(isElementNode));
        const kids = childElements(reply);
        if (reply.attrs.type === 'result') assert.ok(kids.length <= 1);
        else {
          assert.equal(reply.attrs.type, 'error');
          assert.deepEqual(kids.map((k) => k.name), ['error']);
        }
        assertNoWhitespaceInWrapper(wrapReply(req, reply));
      }),
      { numRuns: RUNS },
    );
    if (process.env.FUZZ_VERBOSE) console.log("accepted", accepted);
    assert.ok(accepted > RUNS / 10, `only ${accepted} accepted`);
  });
});

describe('fuzz: parseXml', () => {
  const TOKENS = [
    '<', '>', '/', '=', '"', "'", ' ', '\n', 'a', 'b', 'iq', ':', 'xmlns', 'xmlns:p', 'p:', '&', ';', 'amp', '&lt;', '&#', 'x', '1F600',
    '<!--', '-->', '<![CDATA[', ']]>', '<?', '?>', '<!DOCTYPE', '\u0000', '\uD800', '😀', '</a>', '<a>', '<a/>', "<a b='c'>", '\r',
  ];
  const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(''));

  function assertOnlyProtocolError(text: string): Element | null {
    try {
      return parseXml(text, { maxBytes: 4096, maxDepth: 16 });
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `threw ${String(e)}`);
      return null;
    }
  }

  it('throws nothing but ProtocolError on random strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void assertOnlyProtocolError(s)), { numRuns: RUNS });
  });

  it('throws nothing but ProtocolError on XML-ish token soup, and what it accepts re-serializes stably', () => {
    fc.assert(
      fc.property(soup, (s) => {
        const el = assertOnlyProtocolError(s);
        if (!el) return;
        const once = el.toString();
        // ltx writes \t, \n, \r raw inside attribute values and \r raw in text, which XML normalizes
        // on reading; only compare when none is present.
        if (/[\r]/.test(once) || Object.values(collectAttrs(el)).some((v) => /[\t\n\r]/.test(v))) return;
        assert.equal(parseXml(once).toString(), once);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('reads back any element ltx serializes', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9._-]{0,5}$/);
    const attrText = fc.string({ unit: fc.constantFrom('a', ' ', '<', '>', '&', '"', "'", 'é', '😀', ';', '#'), maxLength: 8 });
    const tree = fc.letrec<{ node: Node }>((tie) => ({
      node: fc.record({
        name,
        attrs: fc.dictionary(name, attrText, { maxKeys: 3 }),
        children: fc.array(fc.oneof({ depthSize: 'small' }, attrText.filter((t) => t.length > 0), tie('node')), { maxLength: 3 }),
      }),
    })).node;
    fc.assert(
      fc.property(tree, (model) => {
        const el = toElement(model);
        assert.equal(parseXml(el.toString(), { maxBytes: 1e6 }).toString(), el.toString());
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: JIDs', () => {
  it('parseJid never throws and its normalization is idempotent', () => {
    const jidish = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 8 }), fc.string({ maxLength: 6 })).map(([l, d, r]) => `${l}@${d}/${r}`),
    );
    fc.assert(
      fc.property(jidish, (s) => {
        const jid = parseJid(s);
        if (!jid) return;
        assert.deepEqual(parseJid(jidToString(jid)), jid);
        for (const part of [jid.local, jid.domain, jid.resource]) {
          if (part !== undefined) assert.ok(part.length > 0 && Buffer.byteLength(part) <= 1023);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

function collectAttrs(el: Element, out: Record<string, string> = {}, prefix = ''): Record<string, string> {
  for (const [k, v] of Object.entries(el.attrs)) out[`${prefix}${el.name}@${k}`] = v;
  el.getChildElements().forEach((c, i) => collectAttrs(c, out, `${prefix}${i}/`));
  return out;
}
