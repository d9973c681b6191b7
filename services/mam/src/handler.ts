import type { Element } from '@xmpp/xml';
import { outboundSubject, type OutboundAck, type OutboundEnvelope, type OutboundError } from '@dbroker/bus';
import { createMamIqHandler, MamDeliveryError, type MamDeliveryFailure, type MamLogger, type MamPageSize } from '@dbroker/mam';
import { DEFAULT_MAX_XML_BYTES, parseRequestStanza, type RequestAddress } from '@dbroker/protocol';
import { createPgNodeLog, createPgPubsubStorage, createRosterAccessPolicy, decideNodeRead, emptyRosterLookup, type AccessPolicy, type RosterLookup } from '@dbroker/pubsub';
import type { Database } from '@dbroker/store';

/**
 * The MAM worker's request handler: inner IQ text in, inner reply IQ text out, result messages out
 * through the ingress (XEP-0356 privileged messages, one awaited ack each) before the reply. Pure wiring
 * of `@dbroker/mam` onto Postgres (`createPgNodeLog`, the PEP node lookup, the PEP read decision) and the
 * outbound subject; the worker runtime owns NATS requests, deadlines and spans.
 */

/** Sends one outbound envelope and resolves with the ingress's ack (`sendPrivilegedMessage` in production). */
export type OutboundSender = (subject: string, env: OutboundEnvelope, timeoutMs: number) => Promise<OutboundAck>;

export interface MamHandlerOptions {
  db: Database;
  logger: MamLogger;
  outbound: OutboundSender;
  subjectPrefix: string;
  workerId: string;
  pageSize: MamPageSize;
  /** Bound of `<count/>`/`index` counting (see `MamArchiveDeps.countMax`). */
  countMax?: number | undefined;
  /** Result messages in flight before the first ack (see `MamArchiveDeps.sendWindow`). Default 1. */
  sendWindow?: number | undefined;
  /** The owners' rosters (presence / roster access models), as the PEP worker's. Default: empty rosters. */
  roster?: RosterLookup | undefined;
  /** Replaces the read policy (default: `createRosterAccessPolicy(roster, storage)`, as the PEP worker's). */
  access?: AccessPolicy | undefined;
  /** Bound of each result's ack wait (the request deadline bounds it too). */
  ackTimeoutMs: number;
  /** Largest request stanza parsed, in UTF-8 bytes. */
  maxStanzaBytes?: number | undefined;
  /** Called once per result message acknowledged by the ingress. */
  onDelivered?: (() => void) | undefined;
}

export interface MamWorkerRequest {
  requestId: string;
  /** Server domain that forwarded the request: results go out on its outbound subject. */
  server: string;
  /** The inner IQ (`jabber:client`, `from` = requester, `to` = archive owner's bare JID). */
  stanza: string;
  /** The inner IQ's addressing from the envelope: a stanza that cannot be read is answered from it. */
  address?: RequestAddress | undefined;
  /** Epoch ms after which the ingress has answered the request already. */
  deadline: number;
}

export type MamHandler = (req: MamWorkerRequest) => Promise<string>;

/** The request stanza could not be read; the worker answers it with a failure. */
export class MamRequestError extends Error {
  override name = 'MamRequestError';
}

/** As large as what the ingress forwards (its MAX_STANZA_BYTES default). */
export const DEFAULT_MAX_STANZA_BYTES = DEFAULT_MAX_XML_BYTES;
/** Time kept for the reply to travel back before the ingress's deadline. */
export const DEADLINE_MARGIN_MS = 50;

/** How each outbound refusal reaches the requester (see `MAM_ERROR_TABLE` of `@dbroker/mam`). */
const DELIVERY_FAILURES: Readonly<Record<OutboundError, MamDeliveryFailure>> = {
  'no-permission': 'unavailable',
  offline: 'offline',
  forbidden: 'rejected',
  'not-allowed': 'rejected',
  'bad-request': 'rejected',
};

export function createMamHandler(opts: MamHandlerOptions): MamHandler {
  const storage = createPgPubsubStorage(opts.db);
  const access = opts.access ?? createRosterAccessPolicy(opts.roster ?? emptyRosterLookup, storage);
  const handle = createMamIqHandler({
    findNode: (service, node) => storage.getNode(service, node),
    mayRead: (node, actor) => decideNodeRead(node, actor, access),
    log: createPgNodeLog(opts.db),
    pageSize: opts.pageSize,
    countMax: opts.countMax,
    sendWindow: opts.sendWindow,
    logger: opts.logger,
  });
  const maxStanzaBytes = opts.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES;
  const { logger } = opts;

  return async (req) => {
    const parsed = parseRequestStanza(req.stanza, { maxBytes: maxStanzaBytes }, req.address);
    if (!parsed.ok) {
      logger.error({ requestId: req.requestId, reason: parsed.reason }, 'mam request stanza refused');
      if (parsed.reply) return parsed.reply.toString();
      throw new MamRequestError(parsed.reason);
    }
    const iq = parsed.iq;

    const subject = outboundSubject(opts.subjectPrefix, req.server);
    const reply = await handle(iq, {
      requestId: req.requestId,
      deliver: async (message) => {
        const remainingMs = req.deadline - Date.now() - DEADLINE_MARGIN_MS;
        if (remainingMs <= 0) throw new MamDeliveryError('offline', 'the request deadline passed while delivering results');
        // The ack means "written to the component link after everything before it"; requests published on
        // one NATS connection reach the one ingress in call order, so pipelined results keep their order,
        // and the IQ reply, sent once every ack is in, reaches the server behind the last of them.
        const ack = await opts.outbound(subject, { v: 1, kind: 'message', stanza: message.toString(), worker: opts.workerId, requestId: req.requestId }, Math.min(opts.ackTimeoutMs, remainingMs));
        if (!ack.ok) throw new MamDeliveryError(DELIVERY_FAILURES[ack.error], `${ack.error}: ${ack.reason}`);
        opts.onDelivered?.();
      },
    });
    return reply.toString();
  };
}
