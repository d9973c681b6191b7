import { EventEmitter } from 'node:events';
import { Component } from '@xmpp/component-core';
import xml, { type Element } from '@xmpp/xml';
import type { RejectedStanza, XmlLimits } from '@dbroker/protocol';
import { useBoundedParser } from './stream-parsing';

export interface LinkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface XmppLinkOptions {
  service: string;
  domain: string;
  secret: string;
  /** Server domain, target of keep-alive pings. */
  server: string;
  logger: LinkLogger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  outboundQueueMax: number;
  /** The same bound in bytes (serialized stanzas; default unbounded). */
  outboundQueueMaxBytes?: number;
  onDropped?: (n: number) => void;
  /** Limits every inbound stanza is parsed within; stanzas over them are emitted as `rejected`. */
  xmlLimits: XmlLimits;
  /** Inbound XML that ended the stream (the link reconnects). */
  onStreamError?: (code: string) => void;
}

export type LinkStatus = 'offline' | 'connecting' | 'online' | 'stopped';

/** `XmppLink.write` on a link that is not online, or a write the socket refused. */
export class LinkOfflineError extends Error {
  override readonly name = 'LinkOfflineError';
  readonly code = 'link-offline';
}

export interface XmppLink {
  /** Emits `stanza` (Element), `rejected` (RejectedStanza: over a parsing limit, skipped), `online`, `offline`. */
  readonly events: EventEmitter;
  status(): LinkStatus;
  /** Sends now, or queues while offline (bounded). */
  send(el: Element): void;
  /**
   * Writes now, in order after everything sent before it, and resolves once the socket has taken the
   * bytes; rejects with LinkOfflineError when the link is not online (never queues) or the write fails.
   */
  write(el: Element): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * The XEP-0114 link to the server: one Component per connection attempt, reconnect with capped,
 * fully jittered exponential backoff, XEP-0199 keep-alive (a half-open socket is otherwise never noticed),
 * TCP_NODELAY (Nagle + delayed ACK costs ~40 ms on back-to-back stanzas), and an outbound queue.
 */
export function createXmppLink(opts: XmppLinkOptions): XmppLink {
  const { logger } = opts;
  const events = new EventEmitter();
  const queue: Element[] = [];
  const queueSizes: number[] = [];
  let queuedBytes = 0;
  let entity: Component | null = null;
  let status: LinkStatus = 'offline';
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let pingTimer: NodeJS.Timeout | null = null;
  let pingSeq = 0;
  let lastInbound = Date.now();
  const pendingPings = new Map<string, NodeJS.Timeout>();

  const clearPing = () => {
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = null;
    for (const t of pendingPings.values()) clearTimeout(t);
    pendingPings.clear();
  };

  // Stanzas written in the same turn of the event loop (the replies of one NATS read, a notification burst)
  // leave in one socket write instead of one syscall each: under load the writes were a large share of the
  // ingress's CPU. Uncorked on the next tick, so nothing waits longer than the current turn.
  let corked: Component['socket'] | null = null;
  const corkThisTurn = (c: Component) => {
    const socket = c.socket;
    if (!socket || corked === socket) return;
    corked = socket;
    socket.cork();
    process.nextTick(() => {
      corked = null;
      socket.uncork();
    });
  };
  const write = (c: Component, el: Element) => {
    corkThisTurn(c);
    c.send(el).catch((err: unknown) => logger.warn({ err }, 'xmpp write failed'));
  };

  const flushQueue = (c: Component) => {
    if (queue.length) logger.info({ count: queue.length }, 'flushing outbound queue');
    while (queue.length && status === 'online') {
      queuedBytes -= queueSizes.shift()!;
      write(c, queue.shift()!);
    }
  };

  const scheduleReconnect = () => {
    if (status === 'stopped' || reconnectTimer) return;
    const cap = Math.min(opts.reconnectMaxMs, opts.reconnectInitialMs * 2 ** Math.min(attempt, 16));
    const delay = Math.round(opts.reconnectInitialMs / 2 + Math.random() * cap);
    attempt++;
    logger.info({ delayMs: delay, attempt }, 'xmpp reconnect scheduled');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connectOnce();
    }, delay);
  };

  const startPing = (c: Component) => {
    pingTimer = setInterval(() => {
      if (Date.now() - lastInbound < opts.pingIntervalMs / 2) return;
      const id = `ka-${++pingSeq}`;
      pendingPings.set(
        id,
        setTimeout(() => {
          pendingPings.delete(id);
          logger.warn({ timeoutMs: opts.pingTimeoutMs }, 'keep-alive ping unanswered: dropping the connection');
          c.socket?.destroy();
        }, opts.pingTimeoutMs),
      );
      write(c, xml('iq', { type: 'get', id, to: opts.server, from: opts.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    }, Math.max(250, Math.floor(opts.pingIntervalMs / 2)));
    pingTimer.unref();
  };

  const connectOnce = () => {
    if (status === 'stopped') return;
    status = 'connecting';
    const c = new Component({ service: opts.service, domain: opts.domain });
    entity = c;
    // Listeners run inside the parser: whatever they throw must not end the stream, let alone the process.
    const deliver = (event: 'stanza' | 'rejected', payload: Element | RejectedStanza) => {
      try {
        events.emit(event, payload);
      } catch (err) {
        logger.error({ err: { message: (err as Error)?.message, name: (err as Error)?.name } }, `inbound ${event} handler failed`);
      }
    };
    useBoundedParser(
      c,
      opts.xmlLimits,
      (rejected) => {
        lastInbound = Date.now();
        deliver('rejected', rejected);
      },
      (err) => {
        logger.error({ code: err.code, reason: err.message }, 'inbound XML cannot be parsed: closing the stream (bad-format); reconnecting');
        opts.onStreamError?.(err.code);
      },
    );
    let wentOnline = false;
    c.on('connect', () => c.socket?.setNoDelay(true));
    c.on('open', (el: Element) => {
      c.authenticate(el.attrs.id ?? '', opts.secret).catch((err: unknown) => {
        logger.error({ err }, 'component handshake failed (check XMPP_SECRET and the server component config)');
        c.socket?.destroy();
      });
    });
    c.on('online', () => {
      wentOnline = true;
      attempt = 0;
      status = 'online';
      lastInbound = Date.now();
      logger.info({ xmppService: opts.service, domain: opts.domain }, 'xmpp component online');
      startPing(c);
      events.emit('online');
      flushQueue(c);
    });
    c.on('stanza', (el: Element) => {
      lastInbound = Date.now();
      if (el.name === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error')) {
        const t = pendingPings.get(el.attrs.id ?? '');
        if (t) {
          clearTimeout(t);
          pendingPings.delete(el.attrs.id!);
          return;
        }
      }
      deliver('stanza', el);
    });
    c.on('error', (err: Error) => logger.warn({ err: { message: err.message, name: err.name } }, 'xmpp connection error'));
    c.on('disconnect', () => {
      clearPing();
      if (entity === c) entity = null;
      if (status === 'stopped') return;
      const was = status;
      status = 'offline';
      if (wentOnline || was === 'online') logger.warn({}, 'xmpp component offline');
      events.emit('offline');
      scheduleReconnect();
    });
    c.start().catch((err: Error) => {
      logger.warn({ err: { message: err.message } }, 'xmpp connect failed');
      if (c.socket) c.socket.destroy();
      else if (entity === c && status !== 'stopped') {
        entity = null;
        status = 'offline';
        scheduleReconnect();
      }
    });
  };

  return {
    events,
    status: () => status,
    send(el) {
      if (status === 'online' && entity) return write(entity, el);
      if (status === 'stopped') return;
      const size = Buffer.byteLength(el.toString());
      const maxBytes = opts.outboundQueueMaxBytes ?? Infinity;
      if (opts.outboundQueueMax === 0 || size > maxBytes) {
        opts.onDropped?.(1);
        logger.error({ max: opts.outboundQueueMax, maxBytes, size }, 'outbound stanza not queued while the link is down (queue off, or the stanza exceeds OUTBOUND_QUEUE_MAX_BYTES)');
        return;
      }
      while (queue.length > 0 && (queue.length >= opts.outboundQueueMax || queuedBytes + size > maxBytes)) {
        queue.shift();
        queuedBytes -= queueSizes.shift()!;
        opts.onDropped?.(1);
        logger.error({ max: opts.outboundQueueMax, maxBytes }, 'outbound queue full: oldest stanza dropped');
      }
      queue.push(el);
      queueSizes.push(size);
      queuedBytes += size;
    },
    write(el) {
      if (status !== 'online' || !entity) return Promise.reject(new LinkOfflineError(`xmpp link is ${status}`));
      // Connection#send serializes and hands the string to the socket synchronously, so the order of
      // write() and send() calls is the order on the wire; it resolves in the socket's write callback.
      corkThisTurn(entity);
      return entity.send(el).catch((err: unknown) => {
        throw new LinkOfflineError(`xmpp write failed: ${(err as Error).message}`, { cause: err });
      });
    },
    start() {
      if (status === 'offline' && !entity) connectOnce();
    },
    async stop() {
      const c = entity;
      status = 'stopped';
      if (reconnectTimer) clearTimeout(reconnectTimer);
      clearPing();
      if (c) {
        await Promise.race([c.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
        c.socket?.destroy();
      }
    },
  };
}
