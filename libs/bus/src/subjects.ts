/**
 * NATS subject naming. Namespaces and domains contain characters NATS tokens cannot hold (`.`, `*`, `>`,
 * whitespace), so each becomes one token by a deterministic, injective encoding: `[a-z0-9-]` stay as they
 * are, every other byte (upper case, `.`, `_`, `:`, `/`, `#`, ...) is written `_xx` (hex of its UTF-8 byte).
 * Well-known namespaces get short aliases so that subjects stay readable.
 */
export const DEFAULT_SUBJECT_PREFIX = 'xmpp';

export const DEFAULT_ROUTE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'http://jabber.org/protocol/pubsub': 'pubsub',
  'http://jabber.org/protocol/pubsub#owner': 'pubsub-owner',
  'urn:xmpp:mam:2': 'mam',
  'urn:xmpp:mam:1': 'mam1',
  'http://jabber.org/protocol/disco#info': 'disco-info',
  'http://jabber.org/protocol/disco#items': 'disco-items',
});

export function encodeToken(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[a-z0-9-]/.test(ch) ? ch : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function decodeToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The route token for a payload namespace: its alias, or `ns-` + its encoding. Aliases never start with `ns-`. */
export function routeForNamespace(namespace: string, aliases: Readonly<Record<string, string>> = DEFAULT_ROUTE_ALIASES): string {
  return aliases[namespace] ?? `ns-${encodeToken(namespace)}`;
}

/** Subject of delegated requests: `<prefix>.req.<domain>.<route>`. Workers subscribe with `*` for the domain to serve every domain. */
export function requestSubject(prefix: string, domain: string, route: string): string {
  return `${prefix}.req.${encodeToken(domain)}.${route}`;
}

/** Subject a worker kind answers disco-nesting feature queries on: `<prefix>.features.<route>`. */
export function featuresSubject(prefix: string, route: string): string {
  return `${prefix}.features.${route}`;
}

/** Wildcard subject of one route across every domain, for workers that serve them all. */
export function requestSubjectAnyDomain(prefix: string, route: string): string {
  return `${prefix}.req.*.${route}`;
}

/**
 * Subject of stanzas a worker asks the ingress to send on the component link: `<prefix>.out.<domain>`,
 * the domain being the served server domain (XMPP_SERVER). Plain request/reply (no queue group): exactly
 * one ingress holds the component link and subscribes while it is online.
 */
export function outboundSubject(prefix: string, domain: string): string {
  return `${prefix}.out.${encodeToken(domain)}`;
}

/**
 * Subject the ingress publishes the presences it receives (XEP-0356 `presence='roster'`) on:
 * `<prefix>.presence.<domain>`. Fire-and-forget; PEP workers consume it in their queue group and keep the
 * shared presence state in Postgres.
 */
export function presenceSubject(prefix: string, domain: string): string {
  return `${prefix}.presence.${encodeToken(domain)}`;
}

/**
 * Subject of IQs a worker asks the ingress to send on its behalf (privileged roster get, caps disco#info):
 * `<prefix>.iq.<domain>`. Request/reply like `outboundSubject`: the ingress holding the link answers with
 * the response stanza or a refusal.
 */
export function iqSubject(prefix: string, domain: string): string {
  return `${prefix}.iq.${encodeToken(domain)}`;
}

/** Wildcard of `presenceSubject` across every domain, for workers that serve them all. */
export function presenceSubjectAnyDomain(prefix: string): string {
  return `${prefix}.presence.*`;
}
