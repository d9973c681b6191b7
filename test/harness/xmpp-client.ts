// Real XMPP clients for tests and benchmarks: @xmpp/client 0.14 over plain TCP on loopback, SASL PLAIN only.
//
// Why PLAIN is forced through a `credentials` function: @xmpp/client's default getMechanism()
// (client/lib/createOnAuthenticate.js) never picks PLAIN on a stream that is not TLS (it takes the first
// non-PLAIN mechanism, i.e. SCRAM-SHA-1, which costs ~1.2 s of async HMAC per login in xmpp.js). A function
// passed as `credentials` receives (authenticate, mechanisms) and chooses the mechanism itself.
import assert from 'node:assert/strict';
import { client as createClient, xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';

export type { Client };
export { xml };

export const DEFAULT_IQ_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 2_000;

export interface ConnectOptions {
  port: number;
  user: string;
  password: string;
  domain?: string;
  resource?: string;
  /** Send initial presence once online (default false). */
  presence?: boolean;
  /** TCP_NODELAY on the client socket (default true). */
  noDelay?: boolean;
}

/** An `<iq type='error'/>` answer, with the RFC 6120 §8.3 error fields. */
export class StanzaErrorResponse extends Error {
  override readonly name = 'StanzaErrorResponse';
  constructor(
    readonly condition: string,
    readonly type: string,
    readonly text: string | undefined,
    readonly stanza: Element,
  ) {
    super(`${type}/${condition}${text ? `: ${text}` : ''}`);
  }

  static fromStanza(stanza: Element): StanzaErrorResponse {
    const err = stanza.getChild('error');
    const condition = err?.getChildElements().find((c) => c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text')?.name ?? 'undefined-condition';
    const text = err?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? undefined;
    return new StanzaErrorResponse(condition, err?.attrs.type ?? 'cancel', text || undefined, stanza);
  }
}

export class IqTimeoutError extends Error {
  override readonly name = 'IqTimeoutError';
  constructor(readonly id: string, readonly timeoutMs: number) {
    super(`no answer to iq ${id} within ${timeoutMs} ms`);
  }
}

interface Pending {
  accept: (from: string | undefined) => boolean;
  resolve: (el: Element) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const pendingByClient = new WeakMap<Client, Map<string, Pending>>();

function pendingOf(c: Client): Map<string, Pending> {
  let pending = pendingByClient.get(c);
  if (!pending) {
    const map = new Map<string, Pending>();
    pending = map;
    pendingByClient.set(c, map);
    c.on('stanza', (el: Element) => {
      if (el.name !== 'iq' || (el.attrs.type !== 'result' && el.attrs.type !== 'error')) return;
      const p = map.get(el.attrs.id ?? '');
      if (!p || !p.accept(el.attrs.from)) return; // keyed by id *and* expected sender
      map.delete(el.attrs.id!);
      clearTimeout(p.timer);
      if (el.attrs.type === 'error') p.reject(StanzaErrorResponse.fromStanza(el));
      else p.resolve(el);
    });
    const failAll = () => {
      for (const [id, p] of map) {
        clearTimeout(p.timer);
        p.reject(new Error(`connection closed before iq ${id} was answered`));
      }
      map.clear();
    };
    c.on('disconnect', failAll);
    c.on('offline', failAll);
  }
  return pending;
}

let idCounter = 0;
const idPrefix = Math.random().toString(36).slice(2, 8);

/**
 * Sends an `<iq/>` (get/set) and resolves with the whole answer stanza; an `type='error'` answer throws
 * StanzaErrorResponse, silence throws IqTimeoutError. Answers are matched on id and on the sender
 * (RFC 6120 §8.1.2.1: `to` echoed; no `to` means our account, so no `from`, our bare JID or our domain).
 */
export async function iq(c: Client, el: Element, timeoutMs = DEFAULT_IQ_TIMEOUT_MS): Promise<Element> {
  if (el.name !== 'iq') throw new TypeError('iq(): element must be <iq/>');
  const id = (el.attrs.id ||= `${idPrefix}-${++idCounter}`);
  const to = el.attrs.to;
  const own = c.jid;
  const bare = own?.bare().toString();
  const accept = (from: string | undefined): boolean => {
    if (to === undefined || to === bare) return from === undefined || from === bare || from === own?.domain || from === to;
    return from === to;
  };
  const pending = pendingOf(c);
  const answer = new Promise<Element>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new IqTimeoutError(id, timeoutMs));
    }, timeoutMs);
    pending.set(id, { accept, resolve, reject, timer });
  });
  try {
    await c.send(el);
  } catch (err) {
    const p = pending.get(id);
    if (p) {
      clearTimeout(p.timer);
      pending.delete(id);
    }
    throw err;
  }
  return await answer;
}

/** Connects, authenticates with PLAIN, binds a resource; reconnect disabled. */
export async function connectClient(opts: ConnectOptions): Promise<Client> {
  const { port, user, password, domain = 'localhost', resource, presence = false, noDelay = true } = opts;
  const c = createClient({
    service: `xmpp://127.0.0.1:${port}`,
    domain,
    resource,
    credentials: async (authenticate, mechanisms) => {
      if (!mechanisms.includes('PLAIN')) throw new Error(`server offers no PLAIN (offered: ${mechanisms.join(', ')})`);
      await authenticate({ username: user, password }, 'PLAIN');
    },
  });
  c.reconnect.stop();
  const errors: Error[] = [];
  c.on('error', (err: Error) => errors.push(err)); // never let an 'error' event crash the process
  if (noDelay) c.on('connect', () => c.socket?.setNoDelay(true));
  pendingOf(c);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.start(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`login of ${user}@${domain} took more than ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    await stopQuietly(c);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (presence) await c.send(xml('presence'));
  return c;
}

async function stopQuietly(c: Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([c.stop(), new Promise((r) => { timer = setTimeout(r, STOP_TIMEOUT_MS); })]);
  } catch {
    // already gone
  } finally {
    clearTimeout(timer);
  }
  if (c.socket && !c.socket.destroyed) c.socket.destroy();
}

/** Stops every client (bounded per client), never throws. */
export async function closeAll(clients: Iterable<Client>): Promise<void> {
  await Promise.allSettled([...clients].map(stopQuietly));
}

/**
 * Awaits `p` and asserts it failed with the stanza error `condition` (silence, i.e. IqTimeoutError, fails
 * with its own message), answered within `boundMs` when one is given. Returns the error for further checks.
 */
export async function expectStanzaError(p: Promise<unknown>, condition: string, boundMs?: number): Promise<StanzaErrorResponse> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    if (err instanceof IqTimeoutError) assert.fail(`client got silence instead of ${condition}`);
    assert.ok(err instanceof StanzaErrorResponse, `expected a stanza error, got ${String(err)}`);
    assert.equal(err.condition, condition, `condition (text: ${err.text}): ${err.stanza.toString()}`);
    if (boundMs !== undefined) assert.ok(Date.now() - t0 <= boundMs, `answered within ${boundMs} ms (took ${Date.now() - t0} ms)`);
    return err;
  }
  assert.fail(`expected ${condition}, got a result`);
}
