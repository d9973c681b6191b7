/** Storage backends for the parametrised tests (not part of the public API). */
import { eq } from 'drizzle-orm';
import { createDatabase, MIGRATIONS_DIR, pubsubNodeEvents, pubsubNodes, runMigrations, type Database } from '@dbroker/store';
import { createTempDatabase } from '../../../test/harness/postgres';
import { createMemoryPubsubStorage } from './memory-storage';
import { createPgPubsubStorage } from './pg-storage';
import type { PubsubStorage, StoredNodeEvent } from './storage';

export interface StorageFixture {
  name: string;
  storage: PubsubStorage;
  /** The log of one node, oldest first. */
  eventsOf(service: string, node: string): Promise<StoredNodeEvent[]>;
  /** The log of one node by id (deleted nodes included), oldest first. */
  eventsOfNode(nodeId: number): Promise<StoredNodeEvent[]>;
  close(): Promise<void>;
}

export type BackendName = 'memory' | 'postgres' | 'pglite';
export const BACKENDS: readonly BackendName[] = ['memory', 'postgres', 'pglite'];

function pgNodeEvents(db: Database) {
  return async (nodeId: number): Promise<StoredNodeEvent[]> =>
    (await db.select().from(pubsubNodeEvents).where(eq(pubsubNodeEvents.nodeId, nodeId)).orderBy(pubsubNodeEvents.seq)).map((e) => ({ ...e }));
}

function pgEvents(db: Database) {
  return async (service: string, node: string): Promise<StoredNodeEvent[]> => {
    const rows = await db
      .select({ e: pubsubNodeEvents, service: pubsubNodes.service, node: pubsubNodes.node })
      .from(pubsubNodeEvents)
      .innerJoin(pubsubNodes, eq(pubsubNodes.id, pubsubNodeEvents.nodeId))
      .orderBy(pubsubNodeEvents.seq);
    return rows.filter((r) => r.service === service && r.node === node).map((r) => ({ ...r.e }));
  };
}

export async function createStorageFixture(backend: BackendName): Promise<StorageFixture> {
  if (backend === 'memory') {
    const storage = createMemoryPubsubStorage();
    return {
      name: backend,
      storage,
      async eventsOf(service, node) {
        const n = await storage.getNode(service, node);
        return n ? storage.events().filter((e) => e.nodeId === n.id) : [];
      },
      eventsOfNode: async (nodeId) => storage.events().filter((e) => e.nodeId === nodeId),
      close: async () => undefined,
    };
  }
  if (backend === 'postgres') {
    const temp = await createTempDatabase('dbroker_pubsub');
    const handle = await createDatabase({ url: temp.url, poolMax: 12 });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    return {
      name: backend,
      storage: createPgPubsubStorage(handle.raw),
      eventsOf: pgEvents(handle.db),
      eventsOfNode: pgNodeEvents(handle.db),
      async close() {
        await handle.close();
        await temp.drop();
      },
    };
  }
  const handle = await createDatabase();
  await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
  return { name: backend, storage: createPgPubsubStorage(handle.raw), eventsOf: pgEvents(handle.db), eventsOfNode: pgNodeEvents(handle.db), close: () => handle.close() };
}
