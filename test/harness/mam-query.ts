// MAM (XEP-0313) queries on PEP nodes as a client makes them, shared by the MAM and interop suites.
import assert from 'node:assert/strict';
import xml, { type Element } from '@xmpp/xml';
import { iq, type Client } from './xmpp-client';
import { sleep } from './wait';

const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const PUBSUB = 'http://jabber.org/protocol/pubsub';

export interface MamQueryOptions {
  max?: number;
  after?: string;
  before?: string;
  fields?: Record<string, string>;
  flip?: boolean;
}

export interface MamAnswer {
  /** Archive ids of the result messages, in arrival order. */
  ids: string[];
  /** What each result stands for: `item:<id>` or `retract:<id>`. */
  entries: string[];
  fin: { complete: string | undefined; first: string | undefined; index: string | undefined; last: string | undefined; count: number | undefined };
  messages: Element[];
}

let queryCounter = 0;

/**
 * One MAM query on `node` of the archive `to` (no `node` attribute when undefined); resolves with its
 * results and fin. Asserts the ordering contract on the client: every result message for this queryid
 * arrived before the IQ result, none after it, each from the archive JID to the requesting resource.
 */
export async function mamQuery(c: Client, to: string, node: string | undefined, o: MamQueryOptions = {}): Promise<MamAnswer> {
  const queryid = `q${++queryCounter}`;
  const children: Element[] = [];
  if (o.fields) {
    children.push(xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)),
      ...Object.entries(o.fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v)))));
  }
  const set: Element[] = [];
  if (o.max !== undefined) set.push(xml('max', {}, String(o.max)));
  if (o.after !== undefined) set.push(xml('after', {}, o.after));
  if (o.before !== undefined) set.push(xml('before', {}, o.before));
  if (set.length) children.push(xml('set', { xmlns: RSM }, ...set));
  if (o.flip) children.push(xml('flip-page'));
  const request = xml('iq', { type: 'set', to }, xml('query', { xmlns: MAM, queryid, ...(node === undefined ? {} : { node }) }, ...children));

  const messages: Element[] = [];
  let messagesAtResult = -1;
  const listener = (el: Element) => {
    if (el.name === 'message' && el.getChild('result', MAM)?.attrs.queryid === queryid) messages.push(el);
    if (el.name === 'iq' && el.attrs.id === request.attrs.id && messagesAtResult < 0) messagesAtResult = messages.length;
  };
  c.on('stanza', listener);
  try {
    request.attrs.id = `mam-${queryid}`;
    const res = await iq(c, request);
    await sleep(150); // anything that would come late shows up here
    assert.equal(messagesAtResult, messages.length, `all ${messages.length} results arrived before the IQ result (got ${messagesAtResult} before it)`);
    const fin = res.getChild('fin', MAM);
    assert.ok(fin, res.toString());
    const rsm = fin.getChild('set', RSM);
    const count = rsm?.getChildText('count');
    for (const m of messages) {
      assert.equal(m.attrs.from, to, 'results come from the archive JID');
      assert.equal(m.attrs.to, c.jid!.toString(), 'to the requesting resource');
    }
    return {
      ids: messages.map((m) => m.getChild('result', MAM)!.attrs.id!),
      entries: messages.map((m) => {
        const items = m.getChild('result', MAM)!.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('message')!.getChild('event', `${PUBSUB}#event`)!.getChild('items')!;
        assert.equal(items.attrs.node, node);
        const e = items.getChildElements()[0]!;
        return `${e.name}:${e.attrs.id}`;
      }),
      fin: {
        complete: fin.attrs.complete,
        first: rsm?.getChildText('first') ?? undefined,
        index: rsm?.getChild('first')?.attrs.index,
        last: rsm?.getChildText('last') ?? undefined,
        count: count === null || count === undefined ? undefined : Number(count),
      },
      messages,
    };
  } finally {
    c.removeListener('stanza', listener);
  }
}
