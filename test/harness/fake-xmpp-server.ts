import { createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import xml, { type Element } from '@xmpp/xml';

const { Parser } = xml;
import { freePort } from './ports';

/**
 * A scripted XEP-0114 server for ingress tests that need stanzas a real server never sends (hostile
 * senders, ungranted namespaces, oversized payloads) or link faults (silence, drops). It speaks the real
 * component protocol on a loopback port: stream header, handshake check, stanzas.
 */
export interface FakeXmppServer {
  port: number;
  service: string;
  /** Stanzas received from the component, in order. */
  received: Element[];
  connections(): number;
  send(stanza: Element | string): void;
  waitFor(pred: (el: Element) => boolean, timeoutMs?: number): Promise<Element>;
  waitForConnection(timeoutMs?: number): Promise<void>;
  /** Drops the current connection abruptly. */
  dropConnection(): void;
  /** While true, pings from the component are not answered. */
  silent: boolean;
  stop(): Promise<void>;
}

export async function startFakeXmppServer({ domain, secret }: { domain: string; secret: string }): Promise<FakeXmppServer> {
  const port = await freePort();
  const received: Element[] = [];
  const waiters: Array<{ pred: (el: Element) => boolean; resolve: (el: Element) => void }> = [];
  let current: Socket | null = null;
  let authed = false;
  let count = 0;
  let connWaiters: Array<() => void> = [];
  const state = { silent: false };

  const server: Server = createServer((socket) => {
    current = socket;
    authed = false;
    socket.setNoDelay(true);
    const streamId = `s${++count}`;
    const parser = new Parser();
    parser.on('start', () => {
      socket.write(`<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${domain}' id='${streamId}'>`);
    });
    parser.on('element', (el: Element) => {
      if (!authed) {
        const expected = createHash('sha1').update(streamId + secret).digest('hex');
        if (el.name === 'handshake' && el.getText() === expected) {
          authed = true;
          socket.write('<handshake/>');
          connWaiters.splice(0).forEach((r) => r());
        } else {
          socket.end('<stream:error><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>');
        }
        return;
      }
      if (el.name === 'iq' && el.attrs.type === 'get' && el.getChild('ping', 'urn:xmpp:ping')) {
        if (!state.silent) socket.write(xml('iq', { type: 'result', id: el.attrs.id, from: el.attrs.to, to: el.attrs.from }).toString());
        return;
      }
      received.push(el);
      for (const w of [...waiters]) {
        if (w.pred(el)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(el);
        }
      }
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (d) => parser.write(d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (current === socket) current = null;
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));

  const fake: FakeXmppServer = {
    port,
    service: `xmpp://127.0.0.1:${port}`,
    received,
    connections: () => count,
    get silent() {
      return state.silent;
    },
    set silent(v: boolean) {
      state.silent = v;
    },
    send(stanza) {
      if (!current || !authed) throw new Error('no authenticated component connection');
      current.write(typeof stanza === 'string' ? stanza : stanza.toString());
    },
    waitFor(pred, timeoutMs = 5000) {
      const hit = received.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (el: Element) => (clearTimeout(t), resolve(el)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching stanza within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    waitForConnection(timeoutMs = 10_000) {
      if (current && authed) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('component did not connect')), timeoutMs);
        connWaiters.push(() => (clearTimeout(t), resolve()));
      });
    },
    dropConnection() {
      current?.destroy();
      current = null;
      authed = false;
    },
    async stop() {
      current?.destroy();
      connWaiters = [];
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return fake;
}
