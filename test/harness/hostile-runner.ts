// Sends the hostile corpus (./hostile-corpus) over real client connections and tallies, per shape, what came
// back within the bound; and runs a well-behaved client next to it that must not notice anything.
import type { Element } from '@xmpp/xml';
import { NS_DISCO_INFO, VICTIM_ITEM, VICTIM_TEXT, capsPresenceText, type CapsShape, type HostileContext, type IqShape, type StreamShape } from './hostile-corpus';
import { itemsIq, resultItemIds } from './pubsub-iq';
import { connectClient, iq, StanzaErrorResponse, xml, type Client, type ConnectOptions } from './xmpp-client';
import { mamQuery } from './mam-query';
import { sleep } from './wait';

export interface IqOutcome {
  type: 'result' | 'error' | 'unanswered' | 'closed';
  condition?: string;
  ms: number;
  stanza?: Element;
}

const conditionOf = (st: Element): string => StanzaErrorResponse.fromStanza(st).condition;

/**
 * Raw IQs on one client connection, answers matched on id alone (an answer to a spoofed or odd `to` may
 * come from anywhere). A dropped connection settles every pending request as 'closed'.
 */
export class RawIqChannel {
  private readonly pending = new Map<string, (o: IqOutcome) => void>();
  private isClosed = false;

  constructor(readonly client: Client) {
    client.on('stanza', (st: Element) => {
      if (st.name !== 'iq' || (st.attrs.type !== 'result' && st.attrs.type !== 'error')) return;
      const done = this.pending.get(st.attrs.id ?? '');
      if (!done) return;
      this.pending.delete(st.attrs.id!);
      done({ type: st.attrs.type, ...(st.attrs.type === 'error' ? { condition: conditionOf(st) } : {}), ms: 0, stanza: st });
    });
    const closeAll = () => {
      this.isClosed = true;
      for (const [id, done] of this.pending) {
        this.pending.delete(id);
        done({ type: 'closed', ms: 0 });
      }
    };
    client.on('disconnect', closeAll);
    client.on('offline', closeAll);
  }

  get closed(): boolean {
    return this.isClosed || this.client.status !== 'online';
  }

  /** Writes `text` (one stanza with id `id`) and resolves with the answer or 'unanswered' after `boundMs`. */
  async send(id: string, text: string, boundMs: number): Promise<IqOutcome> {
    const t0 = Date.now();
    if (this.closed) return { type: 'closed', ms: 0 };
    const answered = new Promise<IqOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ type: 'unanswered', ms: boundMs });
      }, boundMs);
      this.pending.set(id, (o) => {
        clearTimeout(timer);
        resolve({ ...o, ms: Date.now() - t0 });
      });
    });
    this.client.write(text).catch(() => undefined); // a failed write shows up as 'closed' or 'unanswered'
    return await answered;
  }
}

export interface ShapeTally {
  name: string;
  category: string;
  kind: 'iq' | 'stream' | 'caps';
  expect: string;
  sent: number;
  ok: number;
  errors: Record<string, number>;
  unanswered: number;
  /** Our connection closed under the request (for 'stream' shapes: the server refused the stream). */
  closed: number;
  maxMs: number;
  /** Caps shapes: disco#info queries the broker sent. */
  queries?: number;
  /** Set by the caller: the largest RSS of a watched process right after the shape (MiB). */
  rssAfterMiB?: number;
  /** What the product did wrong on this shape (empty: as it must). */
  violations: string[];
}

const newTally = (s: { name: string; category: string; kind: 'iq' | 'stream' | 'caps' }, expect: string): ShapeTally =>
  ({ name: s.name, category: s.category, kind: s.kind, expect, sent: 0, ok: 0, errors: {}, unanswered: 0, closed: 0, maxMs: 0, violations: [] });

function count(t: ShapeTally, o: IqOutcome): void {
  t.maxMs = Math.max(t.maxMs, o.ms);
  if (o.type === 'result') t.ok++;
  else if (o.type === 'error') t.errors[o.condition!] = (t.errors[o.condition!] ?? 0) + 1;
  else if (o.type === 'closed') t.closed++;
  else t.unanswered++;
}

let seq = 0;
const nextBase = (name: string) => `h${++seq}-${name.slice(0, 24)}`;

/** One IQ shape (every copy of a burst at once) on `chan`; the tally says what came back and what is wrong. */
export async function runIqShape(chan: RawIqChannel, ctx: HostileContext, shape: IqShape, boundMs: number): Promise<ShapeTally> {
  const t = newTally(shape, shape.expect);
  const copies = shape.burst ?? 1;
  if (shape.pauseBeforeMs) await sleep(shape.pauseBeforeMs);
  const sends: Array<Promise<IqOutcome>> = [];
  for (let i = 0; i < copies; i++) {
    const base = nextBase(shape.name);
    const id = shape.id ? shape.id(base) : base;
    t.sent++;
    sends.push(chan.send(id, shape.build(ctx, id, i), boundMs));
  }
  const outcomes = await Promise.all(sends);
  for (const o of outcomes) count(t, o);
  if (t.unanswered) t.violations.push(`${t.unanswered}/${t.sent} unanswered within ${boundMs} ms`);
  if (t.closed) t.violations.push(`${t.closed}/${t.sent}: the client's connection closed instead of an answer`);
  // One hostile request must be refused, not make the broker fail: internal-server-error means input threw
  // somewhere (floods may legitimately run into the request deadline, which answers the same).
  if (copies === 1 && t.errors['internal-server-error']) t.violations.push('internal-server-error: the input made the broker fail instead of being refused');
  if (shape.expect === 'error' && t.ok) t.violations.push(`${t.ok}/${t.sent} accepted (result) where an error is due`);
  if (shape.expect === 'error' && shape.conditions) {
    const wrong = Object.keys(t.errors).filter((c) => !shape.conditions!.includes(c));
    if (wrong.length) t.violations.push(`conditions ${wrong.join(', ')} (expected one of ${shape.conditions.join(', ')})`);
  }
  if (shape.expect === 'ok') {
    const errs = Object.entries(t.errors);
    if (errs.length) t.violations.push(`refused a legitimate request: ${errs.map(([c, n]) => `${c}×${n}`).join(', ')}`);
    if (shape.followUp && t.ok === t.sent) {
      const base = nextBase(`${shape.name}-read`);
      const o = await chan.send(base, shape.followUp.build(ctx, base), boundMs);
      if (o.type !== 'result') t.violations.push(`follow-up read: ${o.type} ${o.condition ?? ''}`);
      else {
        const wrong = shape.followUp.check(o.stanza!);
        if (wrong) t.violations.push(`follow-up read: ${wrong}`);
      }
    }
  }
  return t;
}

/**
 * One stream shape on a fresh connection: the XMPP server must refuse it (stream error / disconnect) or
 * answer the IQ with an error; a result, or silence past the bound, is a violation.
 */
export async function runStreamShape(connect: () => Promise<Client>, ctx: HostileContext, shape: StreamShape, boundMs: number): Promise<ShapeTally> {
  const t = newTally(shape, 'refused');
  const client = await loginOrRecord(connect, t);
  if (!client) return t;
  try {
    const chan = new RawIqChannel(client);
    const id = nextBase(shape.name);
    t.sent++;
    const o = await chan.send(id, shape.build(ctx, id), boundMs);
    count(t, o);
    if (o.type === 'result' && !shape.mayPass) t.violations.push('accepted (result): the server let it through and the broker applied it');
    if (o.type === 'unanswered') t.violations.push(`neither refused nor answered within ${boundMs} ms`);
  } finally {
    await stopQuietly(client);
  }
  return t;
}

/**
 * One caps shape: `presences` available presences with fresh caps, answering (or not) each disco#info the
 * broker sends; nothing is expected back but the queries. Ends with an unavailable presence.
 */
export async function runCapsShape(connect: () => Promise<Client>, ctx: HostileContext, shape: CapsShape, settleMs: number): Promise<ShapeTally> {
  const t = newTally(shape, 'no answer due');
  const client = await loginOrRecord(connect, t);
  if (!client) return t;
  let queries = 0;
  // Keep xmpp.js from answering the disco#info itself (its iqCallee answers unhandled gets with an error).
  client.iqCallee.get(NS_DISCO_INFO, 'query', () => new Promise<never>(() => undefined));
  client.on('stanza', (st: Element) => {
    if (st.name !== 'iq' || st.attrs.type !== 'get' || !st.getChild('query', NS_DISCO_INFO)) return;
    queries++;
    const answer = shape.answer({ id: st.attrs.id!, from: st.attrs.from!, node: st.getChild('query')!.attrs.node }, ctx);
    if (answer !== null && client.status === 'online') client.write(answer).catch(() => undefined);
  });
  const write = async (text: string): Promise<boolean> => {
    if (client.status !== 'online') return false;
    try {
      await client.write(text);
      return true;
    } catch {
      return false;
    }
  };
  try {
    for (let i = 0; i < shape.presences; i++) {
      if (!(await write(capsPresenceText(`${shape.name}-${i}-${Math.random().toString(36).slice(2)}=`)))) break;
      t.sent++;
      await sleep(shape.intervalMs);
      if (i < shape.presences - 1 && !(await write("<presence type='unavailable'/>"))) break; // the next one is an initial presence again
    }
    await sleep(settleMs);
    await write("<presence type='unavailable'/>");
    t.queries = queries;
    if (client.status !== 'online') t.violations.push(`the caps client was disconnected after ${t.sent} of ${shape.presences} presences`);
  } finally {
    await stopQuietly(client);
  }
  return t;
}

/** A login the XMPP server does not complete is recorded on the shape (the server in front stalled). */
async function loginOrRecord(connect: () => Promise<Client>, t: ShapeTally): Promise<Client | undefined> {
  try {
    return await connect();
  } catch (err) {
    t.violations.push(`could not log in to run the shape: ${(err as Error).message || (err as Error).name}`);
    return undefined;
  }
}

async function stopQuietly(c: Client): Promise<void> {
  await Promise.race([c.stop().catch(() => undefined), sleep(2_000)]);
  if (c.socket && !c.socket.destroyed) c.socket.destroy();
}

export const connectWith = (opts: ConnectOptions) => () => connectClient(opts);

// ------------------------------------------------------------------------------------- the well-behaved one

export interface WellBehavedReport {
  iterations: number;
  requests: number;
  /** Every request that failed, timed out or read back something else than was published. */
  failures: string[];
  /** Published item ids, in order. */
  published: string[];
  maxMs: number;
}

/**
 * A client that publishes to its own node and reads each item back, one request at a time, paced at
 * `intervalMs` per publish+read (2 requests), until stopped. Each request is bounded by `boundMs`.
 */
export function startWellBehaved(client: Client, node: string, opts: { intervalMs: number; boundMs: number }): { stop(): Promise<WellBehavedReport> } {
  const report: WellBehavedReport = { iterations: 0, requests: 0, failures: [], published: [], maxMs: 0 };
  let running = true;
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    const t0 = Date.now();
    report.requests++;
    try {
      return await f();
    } catch (err) {
      report.failures.push(`${what}: ${err instanceof StanzaErrorResponse ? `${err.condition} ${err.text ?? ''}` : (err as Error).message} after ${Date.now() - t0} ms`);
      return undefined;
    } finally {
      report.maxMs = Math.max(report.maxMs, Date.now() - t0);
    }
  };
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      const n = ++report.iterations;
      const itemId = `g${n}`;
      const text = `good ${n} ${Math.random().toString(36).slice(2)}`;
      const pub = await timed(`publish ${itemId}`, () => iq(client, xml('iq', { type: 'set' }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' },
        xml('publish', { node }, xml('item', { id: itemId }, xml('entry', { xmlns: 'urn:hostile:good' }, text))),
        xml('publish-options', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
          xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
          xml('field', { var: 'pubsub#max_items' }, xml('value', {}, 'max')))))), opts.boundMs));
      if (pub) {
        report.published.push(itemId);
        const got = pub.getChild('pubsub')?.getChild('publish')?.getChild('item')?.attrs.id;
        if (got !== itemId) report.failures.push(`publish ${itemId}: answered with item id ${got}`);
        const read = await timed(`read ${itemId}`, () => iq(client, xml('iq', { type: 'get' }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('items', { node }, xml('item', { id: itemId })))), opts.boundMs));
        if (read) {
          const items = read.getChild('pubsub')?.getChild('items')?.getChildren('item') ?? [];
          const texts = items.filter((i) => i.attrs.id === itemId).map((i) => i.getChild('entry')?.getText());
          if (texts.length !== 1 || texts[0] !== text) report.failures.push(`read ${itemId}: got ${JSON.stringify(texts)}, published ${JSON.stringify(text)}`);
        }
      }
      await sleep(Math.max(0, opts.intervalMs - (Date.now() - t0)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return report;
    },
  };
}

/**
 * Every publish of `published` is in the node's MAM history exactly once, and nothing else is: a request
 * the client saw succeed was applied once, never twice, and nothing was applied behind its back.
 */
export async function checkAppliedOnce(client: Client, owner: string, node: string, published: string[]): Promise<string[]> {
  const seen = new Map<string, number>();
  let after: string | undefined;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await mamQuery(client, owner, node, { max: 100, ...(after ? { after } : {}) });
    for (const e of page.entries) seen.set(e, (seen.get(e) ?? 0) + 1);
    if (page.fin.complete === 'true' || page.entries.length === 0) break;
    after = page.fin.last;
  }
  const problems: string[] = [];
  for (const id of published) {
    const n = seen.get(`item:${id}`) ?? 0;
    if (n !== 1) problems.push(`item ${id} is in the history ${n} times`);
    seen.delete(`item:${id}`);
  }
  for (const [e, n] of seen) problems.push(`unexpected history entry ${e} (×${n})`);
  return problems;
}

/** The victim's nodes hold exactly what the victim published (read as the victim). */
export async function checkVictimNodes(victim: Client, ctx: HostileContext, boundMs: number): Promise<string[]> {
  const problems: string[] = [];
  for (const [node, text] of [[ctx.victimOpenNode, VICTIM_TEXT.open], [ctx.victimPrivateNode, VICTIM_TEXT.private]] as const) {
    const r = await iq(victim, itemsIq(node), boundMs).catch((e: Error) => e);
    if (r instanceof Error) {
      problems.push(`victim node ${node}: read failed: ${r.message}`);
      continue;
    }
    const ids = resultItemIds(r);
    const got = r.getChild('pubsub')?.getChild('items')?.getChildren('item')[0]?.getChild('p')?.getText();
    if (ids.join() !== VICTIM_ITEM || got !== text) problems.push(`victim node ${node} changed: ids ${ids.join()} text ${got}`);
  }
  return problems;
}

/**
 * What a contact of the attacker received: nothing smuggled in a payload came out as a stanza of its own
 * (no message with a top-level body), and nobody spoke for anyone but the attacker, the observer's own
 * account or the server.
 */
export function checkObserved(messages: Element[], ctx: HostileContext): string[] {
  const problems: string[] = [];
  for (const m of messages) {
    if (m.getChild('body')) problems.push(`observer got a message with a body: ${m.toString().slice(0, 300)}`);
    const from = (m.attrs.from ?? '').split('/')[0];
    if (m.attrs.type !== 'error' && from !== ctx.hostile && from !== ctx.victim && from !== ctx.domain) problems.push(`observer got a message from ${m.attrs.from}: ${m.toString().slice(0, 300)}`);
  }
  return problems;
}
