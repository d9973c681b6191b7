import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;

/** Creates the durable audit events stream if it does not exist (idempotent; safe from several replicas). */
export async function ensureEventsStream(nc: NatsConnection, name: string, prefix: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(name);
    return;
  } catch {
    // not found: create below
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [`${prefix}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: DUPLICATE_WINDOW_NS,
    });
  } catch (err) {
    // another replica may have created it in the meantime
    await jsm.streams.info(name).catch(() => {
      throw err;
    });
  }
}
