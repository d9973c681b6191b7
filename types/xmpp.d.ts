// Minimal declarations for the CommonJS xmpp.js 0.13 packages (no types on npm).
declare module '@xmpp/xml' {
  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    text(value: string): Element;
    getAttr(name: string): string | undefined;
    append(...children: Array<Element | string>): Element;
    prepend(...children: Array<Element | string>): Element;
    cnode(child: Element): Element;
    c(name: string, attrs?: Record<string, string>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    remove(el: Element | string, xmlns?: string): Element;
    toString(): string;
  }
  export class Parser {
    constructor(options?: unknown);
    write(data: string): void;
    end(data?: string): void;
    on(event: 'element' | 'start' | 'end' | 'error', cb: (arg: any) => void): void;
  }
  type Child = Element | string | null | undefined | false | Child[];
  function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Child[]): Element;
  namespace xml {
    export { Element, Parser };
    export function escapeXML(s: string): string;
    export function escapeXMLText(s: string): string;
  }
  export default xml;
}

declare module '@xmpp/jid' {
  export class JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }
  export default function jid(s: string): JID;
}

declare module '@xmpp/component-core' {
  import type { EventEmitter } from 'node:events';
  import type { Element } from '@xmpp/xml';
  export class Component extends EventEmitter {
    constructor(options: { service: string; domain: string });
    status: string;
    socket: (import('node:net').Socket & EventEmitter) | null;
    jid: { toString(): string } | null;
    options: { service: string; domain: string };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    connect(service: string): Promise<void>;
    open(params: { domain: string }): Promise<Element>;
    disconnect(timeout?: number): Promise<void>;
    send(el: Element): Promise<void>;
    /** Raw write of serialized XML on the stream. */
    write(data: string): Promise<void>;
    authenticate(id: string, password: string): Promise<void>;
  }
}

declare module '@xmpp/reconnect' {
  import type { EventEmitter } from 'node:events';
  export default function reconnect(opts: { entity: unknown }): EventEmitter & { delay: number; stop(): void; start(): void };
}

declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';
  import type { Element } from '@xmpp/xml';
  export interface Client extends EventEmitter {
    jid: { toString(): string; bare(): { toString(): string }; local: string; domain: string; resource: string } | null;
    status: string;
    /** The TCP socket while connected (a net.Socket subclass for xmpp:// services). */
    socket: (import('node:net').Socket & { secure?: boolean }) | null;
    /** Raw write of serialized XML on the stream (no stanza bookkeeping). */
    write(data: string): Promise<void>;
    isSecure(): boolean;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
    iqCaller: {
      request(el: Element, timeoutMs?: number): Promise<Element>;
      get(el: Element, to?: string, timeoutMs?: number): Promise<Element>;
      set(el: Element, to?: string, timeoutMs?: number): Promise<Element>;
    };
    /** Answers incoming IQs; a handler's returned element is the result's child (one answer path: unhandled gets get service-unavailable). */
    iqCallee: {
      get(ns: string, name: string, handler: (ctx: { element: Element; stanza: Element; from?: string }) => Element | Promise<Element> | undefined): void;
      set(ns: string, name: string, handler: (ctx: { element: Element; stanza: Element; from?: string }) => Element | Promise<Element> | undefined): void;
    };
    reconnect: { stop(): void };
  }
  /** What @xmpp/sasl passes to a `credentials` function: authenticate(creds, mechanismName). */
  export type SaslAuthenticate = (credentials: { username: string; password: string }, mechanism: string) => Promise<void>;
  export interface ClientOptions {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    /** A function takes over mechanism choice: (authenticate, offeredAndSupportedMechanisms, fast, entity). */
    credentials?: { username: string; password: string } | ((authenticate: SaslAuthenticate, mechanisms: string[], fast: unknown, entity: Client) => Promise<void>);
    timeout?: number;
    [key: string]: unknown;
  }
  export function client(options: ClientOptions): Client;
  export { default as xml } from '@xmpp/xml';
}
