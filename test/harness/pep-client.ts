// A real XMPP client that behaves like a modern PEP client: it advertises XEP-0115 entity capabilities in
// its presence (with `<node>+notify` features for the PEP nodes it wants), answers the caps disco#info
// query, and collects the pubsub#event messages it receives.
//
// The verification string is computed here independently of the broker's own implementation
// (XEP-0115 §5.1, identities and features only), so tests check the broker against the spec, not itself.
import { createHash } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { connectClient, xml, type Client, type ConnectOptions } from './xmpp-client';
import { sleep } from './wait';

export const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_CAPS = 'http://jabber.org/protocol/caps';
const CAPS_NODE = 'https://delegation-broker.test/client';
const IDENTITY = { category: 'client', type: 'pc', name: 'dbroker-test' } as const;

export interface PepClientOptions extends Omit<ConnectOptions, 'presence'> {
  /** PEP nodes this client wants notifications for (`<node>+notify`). */
  notify?: string[];
  /** Send the initial presence with caps at once (default true). */
  presence?: boolean;
}

export interface PepClient {
  client: Client;
  /** Full JID once online. */
  jid: string;
  /** pubsub#event messages received so far, oldest first. */
  events: Element[];
  /** How many caps disco#info queries this client answered. */
  discoQueries(): number;
  sendPresence(): Promise<void>;
  /** The first collected event (including ones already received) that matches; throws after `timeoutMs`. */
  waitForEvent(match: (msg: Element) => boolean, timeoutMs?: number, what?: string): Promise<Element>;
  /** Events matching `match`, after waiting `quietMs` for stragglers. */
  eventsAfterQuiet(match: (msg: Element) => boolean, quietMs?: number): Promise<Element[]>;
}

export function capsVerification(identities: ReadonlyArray<{ category: string; type: string; lang?: string; name?: string }>, features: readonly string[]): string {
  const ids = identities.map((i) => `${i.category}/${i.type}/${i.lang ?? ''}/${i.name ?? ''}`).sort();
  const s = [...ids, ...[...features].sort()].map((x) => `${x}<`).join('');
  return createHash('sha1').update(s, 'utf8').digest('base64');
}

export async function connectPepClient(opts: PepClientOptions): Promise<PepClient> {
  const features = [NS_DISCO_INFO, NS_CAPS, ...(opts.notify ?? []).map((n) => `${n}+notify`)];
  const ver = capsVerification([IDENTITY], features);
  const client = await connectClient({ ...opts, presence: false });
  let queries = 0;
  // One answer path: xmpp.js's iqCallee would otherwise answer unhandled gets with service-unavailable.
  client.iqCallee.get(NS_DISCO_INFO, 'query', (ctx: { element: Element }) => {
    queries++;
    const node = ctx.element.attrs.node as string | undefined;
    return xml('query', { xmlns: NS_DISCO_INFO, ...(node ? { node } : {}) },
      xml('identity', { ...IDENTITY }),
      ...features.map((v) => xml('feature', { var: v })));
  });
  const events: Element[] = [];
  const waiters = new Set<() => void>();
  client.on('stanza', (el: Element) => {
    if (el.name !== 'message' || !el.getChild('event', NS_EVENT)) return;
    events.push(el);
    for (const w of waiters) w();
  });
  const pc: PepClient = {
    client,
    jid: client.jid!.toString(),
    events,
    discoQueries: () => queries,
    async sendPresence() {
      await client.send(xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: CAPS_NODE, ver })));
    },
    async waitForEvent(match, timeoutMs = 10_000, what = 'event') {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        const left = until - Date.now();
        if (left <= 0) throw new Error(`${pc.jid}: no ${what} within ${timeoutMs} ms (got ${events.length} events: ${events.map((e) => e.toString()).join(' | ').slice(0, 2000)})`);
        await new Promise<void>((resolve) => {
          const done = () => {
            waiters.delete(done);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(done, left);
          waiters.add(done);
        });
      }
    },
    async eventsAfterQuiet(match, quietMs = 1500) {
      await sleep(quietMs);
      return events.filter(match);
    },
  };
  if (opts.presence ?? true) await pc.sendPresence();
  return pc;
}

/** Matches an event message about `node` (items, retract, delete or purge) from `from`. */
export function eventAbout(node: string, from?: string, child?: 'items' | 'delete' | 'purge' | 'configuration') {
  return (msg: Element): boolean => {
    if (from !== undefined && msg.attrs.from !== from) return false;
    const ev = msg.getChild('event', NS_EVENT);
    if (!ev) return false;
    return ev.getChildElements().some((c) => (child === undefined || c.name === child) && c.attrs.node === node);
  };
}

/** Item ids in an event message (published items), and retracted ids. */
export function eventItems(msg: Element): { items: string[]; retracts: string[] } {
  const items = msg.getChild('event', NS_EVENT)?.getChild('items');
  return {
    items: (items?.getChildren('item') ?? []).map((i) => i.attrs.id as string),
    retracts: (items?.getChildren('retract') ?? []).map((i) => i.attrs.id as string),
  };
}
