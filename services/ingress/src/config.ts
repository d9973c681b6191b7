import { z } from 'zod';
import { commonEnv, ConfigError, int, natsUrl, parseEnv } from '@dbroker/config';
import { DEFAULT_XML_LIMITS, type XmlLimits } from '@dbroker/protocol';

export const IngressEnvSchema = z.object({
  ...commonEnv,
  /** Where the XMPP server's component port listens. */
  XMPP_SERVICE: z.string().regex(/^xmpp:\/\/[^\s:/]+:\d+$/, 'must be xmpp://host:port').default('xmpp://127.0.0.1:5347'),
  /** The component JID, e.g. pubsub.example.org. */
  XMPP_DOMAIN: z.string().regex(/^[^\s@/]+$/, 'must be a domain JID (no @ or /)').default('pubsub.localhost'),
  XMPP_SECRET: z.string().min(1).default('secret'),
  /** The only server domain whose grants and forwarded IQs are accepted. */
  XMPP_SERVER: z.string().regex(/^[^\s@/]+$/, 'must be a domain (no @ or /)').default('localhost'),
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  /** Every forwarded IQ is answered within this bound, whatever happens behind the ingress. */
  REQUEST_TIMEOUT_MS: int(5000, 100, 120_000),
  /** Forwarded IQs larger than this (serialized, bytes) are refused. */
  MAX_STANZA_BYTES: int(262_144, 1024, 16 * 1024 * 1024),
  /** Parsing limits of every inbound stanza and worker reply (see XmlLimits; checked while parsing). */
  MAX_STANZA_DEPTH: int(DEFAULT_XML_LIMITS.maxDepth, 8, 1000),
  MAX_STANZA_ELEMENTS: int(DEFAULT_XML_LIMITS.maxElements, 16, 1_000_000),
  MAX_STANZA_ATTRIBUTES: int(DEFAULT_XML_LIMITS.maxAttributes, 8, 10_000),
  MAX_ATTRIBUTE_BYTES: int(DEFAULT_XML_LIMITS.maxAttributeBytes, 3072, 16 * 1024 * 1024),
  /** Default: MAX_STANZA_BYTES (an avatar may fill a whole stanza with base64 text). */
  MAX_TEXT_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).optional(),
  /** XEP-0199 ping to the server while idle; a missing pong for PING_TIMEOUT_MS reconnects. */
  PING_INTERVAL_MS: int(30_000, 200, 3_600_000),
  PING_TIMEOUT_MS: int(10_000, 100, 600_000),
  RECONNECT_INITIAL_MS: int(250, 10, 60_000),
  RECONNECT_MAX_MS: int(30_000, 100, 600_000),
  /** Bytes of privileged-message requests written to the link and not yet taken by its socket; beyond it more are refused (offline). */
  OUTBOUND_MAX_BYTES_IN_FLIGHT: int(33_554_432, 262_144, 1_073_741_824),
  /** Stanzas kept while the XMPP link is down; the oldest are dropped beyond it. */
  OUTBOUND_QUEUE_MAX: int(10_000, 0, 1_000_000),
  /** The same bound in bytes (serialized stanzas). */
  OUTBOUND_QUEUE_MAX_BYTES: int(16_777_216, 0, 1_073_741_824),
  /** Audit events kept in memory while JetStream is unreachable, in count and bytes (the oldest are dropped beyond either, counted). */
  AUDIT_BUFFER_MAX_EVENTS: int(100_000, 1, 10_000_000),
  AUDIT_BUFFER_MAX_BYTES: int(67_108_864, 65_536, 1_073_741_824),
  /** How long worker disco features are cached for disco-nesting answers. */
  FEATURES_CACHE_MS: int(30_000, 0, 3_600_000),
  FEATURES_TIMEOUT_MS: int(1000, 50, 30_000),
  /** How long a disco-nesting answer waits for a worker kind that does not answer yet (workers still starting). */
  FEATURES_WAIT_MS: int(15_000, 0, 30_000),
  /** Forwarded IQs per requester bare JID per second (token bucket refill); 0 turns the limit off. */
  RATE_LIMIT_PER_SECOND: int(50, 0, 1_000_000),
  /** Forwarded IQs a requester may send at once (bucket size). */
  RATE_LIMIT_BURST: int(500, 1, 1_000_000),
  /** Requesters whose buckets are remembered (least recently seen forgotten first). */
  RATE_LIMIT_TRACKED_JIDS: int(100_000, 1, 10_000_000),
});

export type IngressConfig = z.infer<typeof IngressEnvSchema>;

/** The XML parsing limits of the configuration. */
export function xmlLimitsOf(cfg: IngressConfig): XmlLimits {
  return {
    maxBytes: cfg.MAX_STANZA_BYTES,
    maxDepth: cfg.MAX_STANZA_DEPTH,
    maxElements: cfg.MAX_STANZA_ELEMENTS,
    maxAttributes: cfg.MAX_STANZA_ATTRIBUTES,
    maxAttributeBytes: cfg.MAX_ATTRIBUTE_BYTES,
    maxTextBytes: cfg.MAX_TEXT_BYTES ?? cfg.MAX_STANZA_BYTES,
  };
}

export function loadIngressConfig(env: Record<string, string | undefined> = process.env): IngressConfig {
  const cfg = parseEnv(IngressEnvSchema, env, 'ingress');
  if (cfg.XMPP_DOMAIN === cfg.XMPP_SERVER) throw new ConfigError('invalid configuration for ingress:\n  XMPP_DOMAIN must differ from XMPP_SERVER (the component is its own JID)');
  if (cfg.PING_TIMEOUT_MS >= cfg.PING_INTERVAL_MS) throw new ConfigError('invalid configuration for ingress:\n  PING_TIMEOUT_MS must be smaller than PING_INTERVAL_MS');
  return cfg;
}
