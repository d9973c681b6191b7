import { parseRequestStanza, type RequestAddress } from '@dbroker/protocol';
import {
  createPgPubsubStorage,
  createPubsubEngine,
  DEFAULT_MAX_PAYLOAD_BYTES,
  handlePepDiscoIq,
  handlePubsubIq,
  type AccessPolicy,
  type PubsubEffect,
  type PubsubEngine,
  type RosterLookup,
  type TranslatorLogger,
} from '@dbroker/pubsub';
import { capturingEffects } from './effects';
import type { RawDb } from '@dbroker/store';

/**
 * The PEP worker's request handler: inner IQ text in, inner reply IQ text out. Pure wiring of the pubsub
 * engine (Postgres storage) and its XEP-0060 translator; the worker runtime owns NATS, deadlines and spans.
 */

export interface PepHandlerOptions {
  /** The database's raw facility (`DatabaseHandle.raw`): the storage issues prepared statements, no query builder. */
  db: RawDb;
  logger: TranslatorLogger;
  /** Largest item payload accepted, in UTF-8 bytes. */
  maxPayloadBytes?: number | undefined;
  /** Largest request stanza parsed, in UTF-8 bytes. Default: the payload limit plus 64 KiB of envelope. */
  maxStanzaBytes?: number | undefined;
  /** The owners' rosters (presence / roster access models). Default: empty rosters. */
  roster?: RosterLookup | undefined;
  /** Replaces the read policy (default: `createRosterAccessPolicy(roster, storage)`). */
  access?: AccessPolicy | undefined;
  /** Use this engine instead of building one on `db` (the notifier shares it). */
  engine?: PubsubEngine | undefined;
  /** Called with what a request changed (for notifications), after the reply is built. */
  onEffects?: ((req: PepRequest, effects: PubsubEffect[]) => void) | undefined;
}

export interface PepRequest {
  /** Idempotency key of the forwarded IQ (a retry carries the same). */
  requestId: string;
  /** The inner IQ (`jabber:client`, `from` = requester, `to` = owner bare JID). */
  stanza: string;
  /** Server domain that forwarded it (where notifications go back). */
  server?: string | undefined;
  /** The inner IQ's addressing from the envelope: a stanza that cannot be read is answered from it. */
  address?: RequestAddress | undefined;
}

export type PepHandler = (req: PepRequest) => Promise<string>;

/** The request stanza could not be read; the worker answers it with a failure. */
export class PepRequestError extends Error {
  override name = 'PepRequestError';
}

export const STANZA_ENVELOPE_BYTES = 64 * 1024;

export function createPepHandler(opts: PepHandlerOptions): PepHandler {
  const maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxStanzaBytes = opts.maxStanzaBytes ?? maxPayloadBytes + STANZA_ENVELOPE_BYTES;
  const engine = opts.engine ?? createPubsubEngine({ storage: createPgPubsubStorage(opts.db), access: opts.access, roster: opts.roster, maxPayloadBytes });
  const { logger } = opts;
  return async (req) => {
    const { requestId, stanza } = req;
    const parsed = parseRequestStanza(stanza, { maxBytes: maxStanzaBytes }, req.address);
    if (!parsed.ok) {
      logger.error({ requestId, reason: parsed.reason }, 'pep request stanza refused');
      if (parsed.reply) return parsed.reply.toString();
      throw new PepRequestError(parsed.reason);
    }
    const iq = parsed.iq;
    // bare-JID disco (the delegated disco#info / disco#items pseudo-namespaces) or XEP-0060
    const disco = await handlePepDiscoIq(iq, { engine, logger });
    if (disco) return disco.toString();
    if (!opts.onEffects) return (await handlePubsubIq(iq, { engine, requestId, logger })).toString();
    const { engine: capturing, effects } = capturingEffects(engine);
    const reply = await handlePubsubIq(iq, { engine: capturing, requestId, logger });
    if (effects.length > 0) opts.onEffects(req, effects);
    return reply.toString();
  };
}
