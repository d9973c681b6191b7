import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BusLogger } from './logger';

const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;
const NS_PER_MS = 1_000_000;

/** Retention of the events stream: the stream is a transport to the projector, `events` is the log. */
export interface EventsStreamLimits {
  /** Messages older than this are removed; 0 = no age limit. */
  maxAgeMs: number;
  /** The oldest messages are removed beyond this size; 0 = no size limit. */
  maxBytes: number;
}

/** Seven days and 1 GiB: a projector can be down for days without losing events, and the disk stays bounded. */
export const DEFAULT_EVENTS_STREAM_LIMITS: EventsStreamLimits = { maxAgeMs: 7 * 86_400_000, maxBytes: 1024 * 1024 * 1024 };

/**
 * The stream settings that carry the limits. Discard `old`: a full stream drops its oldest messages and
 * keeps accepting, so the ingress never stalls on a full stream (what falls off is what the projector
 * should long have stored; with the projector stopped for longer than the limits allow, events are lost).
 */
export function streamLimitsConfig(limits: EventsStreamLimits): Pick<StreamConfig, 'max_age' | 'max_bytes' | 'discard' | 'duplicate_window'> {
  const maxAge = limits.maxAgeMs * NS_PER_MS;
  return {
    max_age: maxAge,
    max_bytes: limits.maxBytes > 0 ? limits.maxBytes : -1,
    discard: DiscardPolicy.Old,
    // JetStream refuses a duplicate window longer than max_age
    duplicate_window: maxAge > 0 ? Math.min(DUPLICATE_WINDOW_NS, maxAge) : DUPLICATE_WINDOW_NS,
  };
}

export type EnsureStreamOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Creates the durable audit events stream if it does not exist, and brings the limits of an existing one to
 * `limits` when they differ (idempotent; safe from several replicas: give them all the same limits).
 */
export async function ensureEventsStream(
  nc: NatsConnection,
  name: string,
  prefix: string,
  limits: EventsStreamLimits = DEFAULT_EVENTS_STREAM_LIMITS,
  logger?: BusLogger,
): Promise<EnsureStreamOutcome> {
  const jsm = await jetstreamManager(nc);
  const wanted = streamLimitsConfig(limits);
  const differs = (c: StreamConfig) =>
    c.max_age !== wanted.max_age || c.max_bytes !== wanted.max_bytes || c.discard !== wanted.discard || c.duplicate_window !== wanted.duplicate_window;

  const update = async (config: StreamConfig): Promise<EnsureStreamOutcome> => {
    if (!differs(config)) return 'unchanged';
    await jsm.streams.update(name, { ...config, ...wanted });
    logger?.info(
      { stream: name, maxAgeMs: limits.maxAgeMs, maxBytes: limits.maxBytes, wasMaxAgeMs: config.max_age / NS_PER_MS, wasMaxBytes: config.max_bytes },
      'events stream limits updated',
    );
    return 'updated';
  };

  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(name)).config;
  } catch {
    // not found: create below
  }
  if (existing) return await update(existing);
  try {
    await jsm.streams.add({
      name,
      subjects: [`${prefix}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      ...wanted,
    });
    return 'created';
  } catch (err) {
    // another replica may have created it in the meantime
    const info = await jsm.streams.info(name).catch(() => {
      throw err;
    });
    return await update(info.config);
  }
}
