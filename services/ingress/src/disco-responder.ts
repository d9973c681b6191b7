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
  /** Clock, for tests. */
  now?: () => number;
}

const EMPTY: WorkerFeatures = { identities: [], features: [] };

/**
 * Answers the server's disco-nesting queries (XEP-0355 §"Disco nesting"): `urn:xmpp:delegation:N::NS` for
 * the server domain and `urn:xmpp:delegation:N:bare:NS` for bare JIDs, with what the workers serving NS
 * advertise. Always a result (ejabberd activates a delegation only after one), cached per route.
 *
 * Both servers concatenate the answers of all delegated namespaces into one disco#info (ejabberd features
 * and identities, Prosody identities), and one worker kind serves several namespaces (PEP: pubsub and
 * pubsub#owner) with the same list: answered as is, every item appeared once per namespace, and XEP-0030
 * forbids duplicate features and identities. So each item (per scope) is given to the first namespace
 * that asks for it and left out of the others' answers; the union the server builds is unchanged. A claim
 * lasts while its namespace keeps asking within `cacheMs` (servers ask all namespaces in one burst per
 * stream), so a namespace no longer delegated frees its items.
 */
export function createDiscoResponder(deps: DiscoResponderDeps) {
  const cache = new Map<string, { at: number; value: WorkerFeatures }>();
  const claims = new Map<string, { namespace: string; at: number }>();
  const now = deps.now ?? Date.now;

  const claim = (scope: string, namespace: string, item: string): boolean => {
    const key = `${scope}\u0000${item}`;
    const held = claims.get(key);
    const t = now();
    if (held && held.namespace !== namespace && t - held.at < deps.cacheMs) return false;
    claims.set(key, { namespace, at: t });
    return true;
  };

  const disjoint = (namespace: string, scope: 'domain' | 'bare', f: WorkerFeatures): WorkerFeatures => ({
    identities: f.identities.filter((i) => claim(scope, namespace, `identity\u0000${i.category}\u0000${i.type}\u0000${i.name ?? ''}`)),
    features: f.features.filter((v) => claim(scope, namespace, `feature\u0000${v}`)),
  });

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
      const f = disjoint(parsed.namespace, parsed.scope, await featuresFor(parsed.namespace, parsed.scope));
      return buildDiscoInfoResult(iq, { node, identities: f.identities, features: f.features });
    },
    invalidate(): void {
      cache.clear();
    },
  };
}
