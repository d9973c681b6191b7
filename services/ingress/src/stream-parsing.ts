import { StringDecoder } from 'node:string_decoder';
import type { Component } from '@xmpp/component-core';
import { BoundedStreamParser, type ProtocolError, type RejectedStanza, type XmlLimits } from '@dbroker/protocol';

/** The parts of @xmpp/connection this module replaces (not in its typings). */
interface ConnectionInternals {
  Parser: new () => unknown;
  parser: { write(data: string): void } | null;
  _onData(data: Buffer): void;
}

/**
 * Makes `component` read its stream with BoundedStreamParser: limits enforced while parsing, stanzas over
 * a limit reported to `onRejected` instead of being built. Also decodes the socket bytes with a
 * StringDecoder (@xmpp/connection decodes each TCP chunk on its own, mangling a character split between
 * two chunks) and ignores data after a parse error (@xmpp/connection detaches its parser then, and the
 * next chunk would throw out of the socket's 'data' handler). Call before `start()`.
 */
export function useBoundedParser(
  component: Component,
  limits: XmlLimits,
  onRejected: (r: RejectedStanza) => void,
  /** Input that ends the stream (not well-formed, restricted XML); @xmpp/connection then closes it with `bad-format`. */
  onStreamError: (err: ProtocolError) => void,
): void {
  const conn = component as unknown as ConnectionInternals;
  const decoder = new StringDecoder('utf8');
  conn.Parser = class extends BoundedStreamParser {
    constructor() {
      super(limits);
      this.on('rejected', onRejected);
      this.on('error', onStreamError);
    }
  };
  conn._onData = function onData(this: ConnectionInternals, data: Buffer) {
    const text = decoder.write(data);
    if (this.parser && text) this.parser.write(text);
  };
}
