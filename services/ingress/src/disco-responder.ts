import type { Element } from '@xmpp/xml';
import { buildDiscoInfoResult, parseDiscoNestingNode } from '@dbroker/protocol';
import { routeForNamespace, featuresSubject, type WorkerFeatures } from '@dbroker/bus';

export interface DiscoResponderDeps {
  subjectPrefix: string;
  cacheMs: number;
  /**
   * How long to keep asking when no worker answers yet. Prosody asks for nested features once per
   * server start, so answering "nothing" while the workers are still starting would hide their features
   * until the server restarts; ejabberd gives us 32 s to answer before it gives up on the delegation.
   */
  waitMs: number;
  /** Asks the worker kind behind a subject for its features; null when none answers. */
  fetchFeatures: (subject: string) => Promise<WorkerFeatures | null>;
}

const EMPTY: WorkerFeatures = { identities: [], features: [] };

/**
 * Answers the server's disco-nesting queries (XEP-0355 §"Disco nesting"): `urn:xmpp:delegation:N::NS` for
 * the server domain and `urn:xmpp:delegation:N:bare:NS` for bare JIDs, with what the workers serving NS
 * advertise. Always a result (ejabberd activates a delegation only after one), cached per route.
 */
export function createDiscoResponder(deps: DiscoResponderDeps) {
  const cache = new Map<string, { at: number; value: WorkerFeatures }>();

  const featuresFor = async (namespace: string, scope: 'domain' | 'bare'): Promise<WorkerFeatures> => {
    const route = routeForNamespace(namespace);
    const key = `${route}:${scope}`;
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < deps.cacheMs) return hit.value;
    const subject = featuresSubject(deps.subjectPrefix, route);
    const until = Date.now() + deps.waitMs;
    let got = await deps.fetchFeatures(subject);
    while (!got && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      got = await deps.fetchFeatures(subject);
    }
    const value = got ? (scope === 'bare' ? got : { identities: [], features: got.features }) : EMPTY;
    if (got) cache.set(key, { at: Date.now(), value });
    return value;
  };

  return {
    /** True when the iq is a disco-nesting query this responder answers. */
    matches(iq: Element): boolean {
      const q = iq.getChild('query', 'http://jabber.org/protocol/disco#info');
      return iq.attrs.type === 'get' && !!q && !!q.attrs.node && parseDiscoNestingNode(q.attrs.node) !== null;
    },
    async answer(iq: Element): Promise<Element> {
      const node = iq.getChild('query', 'http://jabber.org/protocol/disco#info')!.attrs.node!;
      const parsed = parseDiscoNestingNode(node)!;
      const f = await featuresFor(parsed.namespace, parsed.scope);
      return buildDiscoInfoResult(iq, { node, identities: f.identities, features: f.features });
    },
    invalidate(): void {
      cache.clear();
    },
  };
}
