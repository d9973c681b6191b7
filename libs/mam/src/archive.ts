import xml, { type Element } from '@xmpp/xml';
import { accountJid, buildErrorElement, iqReplyAttrs } from '@dbroker/protocol';
import { type NodeLogEntry, type NodeLogFilter, type NodeLogReader, type NodeReadDecision, type StoredNode } from '@dbroker/pubsub';
import { archiveIdOf, seqOfArchiveId } from './archive-id';
import { MamDeliveryError, MamRefusal, mamStanzaError, refuse, type MamErrorName } from './errors';
import { buildQueryForm } from './form';
import { NS_MAM_2 } from './namespaces';
import { parseMamRequest, type MamRequest } from './request';
import { buildFin, buildMetadata, buildResultMessage, type ArchiveEntry } from './results';
import type { RsmAnswer } from './rsm';

/**
 * MAM on a node (XEP-0313 + XEP-0442) over injected parts: the node lookup, the shared read decision,
 * the node log and a `deliver` for result messages. No I/O of its own; `services/mam` wires Postgres and
 * the privileged outbound path in.
 *
 * A query is answered in this order: read and check it; look the node up and apply the SAME read
 * decision as PEP item retrieval (`decideNodeRead`); resolve every UID it names (unknown = item-not-found);
 * read one page by keyset and, when the page alone does not tell it, count the result set; then deliver
 * the result messages in order (`sendWindow` at a time) and, once every one is acknowledged, return the IQ
 * result with `<fin/>`. Since a delivery is acknowledged once written to the one component link, and the IQ
 * reply goes out on that link after the last ack, the requester receives every result before the `<fin/>`
 * (XEP-0313 §4.3).
 */

export interface MamPageSize {
  /** Page size when the query has no RSM `<max/>`. */
  default: number;
  /** Upper bound of a page whatever `<max/>` asks (XEP-0313 §4.3.1: a server MAY limit). */
  max: number;
}

export interface MamLogger {
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface MamArchiveDeps {
  findNode(service: string, node: string): Promise<StoredNode | undefined>;
  /** The read decision PEP item retrieval applies (`decideNodeRead` with the deployment's access policy). */
  mayRead(node: StoredNode, actor: string): Promise<NodeReadDecision>;
  log: NodeLogReader;
  pageSize: MamPageSize;
  /**
   * `<count/>` and `<first index/>` (XEP-0059 §2.6, optional in XEP-0313 §4.3.2) when the page alone does
   * not tell them: counted exactly up to this many entries, left out beyond (so a page never scans more
   * than this). 0: never counted; undefined: always, whatever the archive's size.
   */
  countMax?: number | undefined;
  /**
   * Result messages handed to `deliver` before the first of them is acknowledged. 1: one at a time, and
   * nothing more is sent once one fails. More: pipelined; `deliver` must then keep the order of its calls
   * (the outbound path does: one NATS connection, one ingress writing in arrival order). Either way every
   * delivery is settled before the reply. Default 1.
   */
  sendWindow?: number | undefined;
  logger?: MamLogger | undefined;
}

export interface MamIqContext {
  /** The delegated request's id (result message ids derive from it). */
  requestId: string;
  /**
   * Sends one result `<message/>` to the requester. Resolves once it is written to the server, after
   * everything delivered before it; throws `MamDeliveryError` when it cannot be.
   */
  deliver(message: Element, index: number): Promise<void>;
}

const DELIVERY_ERRORS: Readonly<Record<MamDeliveryError['failure'], MamErrorName>> = {
  unavailable: 'delivery-unavailable',
  rejected: 'delivery-rejected',
  offline: 'delivery-offline',
};


const toArchiveEntry = (e: NodeLogEntry): ArchiveEntry => ({ id: archiveIdOf(e.seq), kind: e.kind, itemId: e.itemId, payload: e.payload, at: e.at });

function checkPageSize(p: MamPageSize): void {
  if (!Number.isInteger(p.max) || p.max < 1) throw new RangeError('pageSize.max must be a positive integer');
  if (!Number.isInteger(p.default) || p.default < 1 || p.default > p.max) throw new RangeError('pageSize.default must be an integer in [1, max]');
}

export type MamIqHandler = (iq: Element, ctx: MamIqContext) => Promise<Element>;

/**
 * Returns the handler of one delegated MAM IQ. `iq` is the inner stanza: `from` the requester, `to` the
 * archive (the node owner's bare JID). The reply is `<iq type='result'>` with at most one child, or
 * `<iq type='error'>`; its `from`/`to` are the request's swapped. Refusals and delivery failures become
 * error replies; anything else thrown becomes `internal-server-error` (detail logged, never sent).
 */
export function createMamIqHandler(deps: MamArchiveDeps): MamIqHandler {
  checkPageSize(deps.pageSize);
  const { countMax } = deps;
  if (countMax !== undefined && (!Number.isInteger(countMax) || countMax < 0)) throw new RangeError('countMax must be a non-negative integer');
  const sendWindow = deps.sendWindow ?? 1;
  if (!Number.isInteger(sendWindow) || sendWindow < 1) throw new RangeError('sendWindow must be a positive integer');

  /** Delivers in order, at most `sendWindow` unacknowledged; resolves when all are acknowledged, throws the first failure. */
  async function deliverAll(messages: Element[], ctx: MamIqContext): Promise<void> {
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    for (const [i, message] of messages.entries()) {
      if (failure) break;
      const p: Promise<void> = ctx.deliver(message, i).then(
        () => void inflight.delete(p),
        (err: unknown) => {
          failure ??= { err };
          inflight.delete(p);
        },
      );
      inflight.add(p);
      if (inflight.size >= sendWindow) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
  }

  async function nodeFor(owner: string, node: string, requester: string): Promise<StoredNode> {
    const stored = await deps.findNode(owner, node);
    if (!stored) throw refuse('node-not-found');
    const decision = await deps.mayRead(stored, requester);
    // a node the requester may not read answers exactly like a node that does not exist
    if (!decision.allowed) throw refuse('node-not-found');
    return stored;
  }

  /** Every UID the query names must be in this node's archive (XEP-0313 §4.1.4, §4.3.2). */
  async function resolveIds(stored: StoredNode, named: Array<[string, string | undefined]>): Promise<Map<string, number>> {
    const seqs = new Map<string, number>();
    for (const [what, id] of named) {
      if (id === undefined) continue;
      const seq = seqOfArchiveId(id);
      if (seq === undefined) throw refuse('item-not-found', `${what} ${id} is not in this archive`);
      seqs.set(id, seq);
    }
    if (seqs.size === 0) return seqs;
    const found = await deps.log.existing(stored.id, [...new Set(seqs.values())]);
    for (const [what, id] of named) {
      if (id !== undefined && !found.has(seqs.get(id)!)) throw refuse('item-not-found', `${what} ${id} is not in this archive`);
    }
    return seqs;
  }

  async function query(iq: Element, req: Extract<MamRequest, { kind: 'query' }>, ctx: MamIqContext): Promise<Element> {
    const owner = accountJid(iq.attrs.to!);
    const requester = iq.attrs.from!;
    const stored = await nodeFor(owner, req.node, requester);
    const { filter, rsm } = req;
    const named: Array<[string, string | undefined]> = [
      ['after-id', filter.afterId],
      ['before-id', filter.beforeId],
      ...(filter.ids ?? []).map((id): [string, string] => ['id', id]),
      ['RSM after', rsm.after],
      ['RSM before', rsm.before === '' ? undefined : rsm.before],
    ];
    const seqs = await resolveIds(stored, named);
    const seqOf = (id: string | undefined) => (id === undefined || id === '' ? undefined : seqs.get(id));

    // The result set (what <count/> and index refer to): the form's filters. The RSM cursors pick a page of it.
    const set: NodeLogFilter = {
      afterSeq: seqOf(filter.afterId),
      beforeSeq: seqOf(filter.beforeId),
      start: filter.start,
      end: filter.end,
      publisher: filter.with,
      seqs: filter.ids?.map((id) => seqs.get(id)!),
    };
    const maxOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
    const minOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
    const backward = rsm.before !== undefined;
    const limit = Math.min(rsm.max ?? deps.pageSize.default, deps.pageSize.max);
    const page = await deps.log.page(stored.id, {
      ...set,
      afterSeq: maxOf(set.afterSeq, seqOf(rsm.after)),
      beforeSeq: minOf(set.beforeSeq, seqOf(rsm.before)),
      direction: backward ? 'backward' : 'forward',
      limit,
    });
    const entries = page.entries.map(toArchiveEntry);
    const first = entries[0];
    const last = entries[entries.length - 1];

    // A page that starts at one end of the result set and reaches the other is the whole set: no count needed.
    const wholeSet = !page.more && rsm.after === undefined && (!backward || rsm.before === '');
    let count: number | undefined;
    let index: number | undefined;
    // A forward page without a lower cursor starts the set: nothing precedes it.
    const startsSet = !backward && rsm.after === undefined;
    if (wholeSet) {
      count = entries.length;
      index = 0;
    } else if (countMax !== 0) {
      const counted = await deps.log.count(stored.id, set, { precedingSeq: startsSet ? undefined : page.entries[0]?.seq, max: countMax });
      count = counted.total;
      index = first === undefined ? undefined : startsSet ? 0 : counted.preceding;
    } else if (startsSet && first) {
      index = 0;
    }

    const deliverPayloads = stored.config.deliver_payloads;
    const order = req.flip ? [...entries].reverse() : entries;
    const messages = order.map((entry, i) =>
      buildResultMessage({ ns: req.ns, archive: owner, to: requester, queryId: req.queryId, messageId: `${ctx.requestId}-${i + 1}`, node: req.node, entry, deliverPayloads }),
    );
    await deliverAll(messages, ctx);

    const answer: RsmAnswer = {
      first: first && { id: first.id, index },
      last: last?.id,
      count,
    };
    return xml('iq', iqReplyAttrs(iq, 'result'), buildFin({ ns: req.ns, queryId: req.queryId, complete: !page.more, rsm: answer }));
  }

  async function dispatch(iq: Element, ctx: MamIqContext): Promise<Element> {
    if (!iq.attrs.from || !iq.attrs.to) throw refuse('bad-request', 'from and to are required');
    const req = parseMamRequest(iq);
    switch (req.kind) {
      case 'form':
        return xml('iq', iqReplyAttrs(iq, 'result'), xml('query', { xmlns: req.ns, ...(req.node === undefined ? {} : { node: req.node }) }, buildQueryForm(req.ns)));
      case 'metadata': {
        const stored = await nodeFor(accountJid(iq.attrs.to), req.node, iq.attrs.from);
        const bounds = await deps.log.bounds(stored.id);
        return xml('iq', iqReplyAttrs(iq, 'result'), buildMetadata(NS_MAM_2, bounds && { first: toArchiveEntry(bounds.first), last: toArchiveEntry(bounds.last) }));
      }
      case 'query':
        return await query(iq, req, ctx);
    }
  }

  return async function handleMamIq(iq, ctx) {
    try {
      return await dispatch(iq, ctx);
    } catch (err) {
      let refusal: MamRefusal;
      if (err instanceof MamRefusal) {
        refusal = err;
        deps.logger?.debug?.({ requestId: ctx.requestId, error: err.code, text: err.text }, 'mam request refused');
      } else if (err instanceof MamDeliveryError) {
        refusal = refuse(DELIVERY_ERRORS[err.failure], 'the archive results could not be delivered');
        deps.logger?.error({ requestId: ctx.requestId, failure: err.failure, reason: err.reason }, 'mam result delivery failed');
      } else {
        refusal = refuse('internal');
        deps.logger?.error({ err, requestId: ctx.requestId }, 'mam request failed');
      }
      return xml('iq', iqReplyAttrs(iq, 'error'), buildErrorElement(mamStanzaError(refusal)));
    }
  };
}
