// One PEP end-to-end set-up: a throw-away Prosody, a Postgres database, the broker as separate processes,
// real clients; torn down in reverse. Shared by the PEP suites so each states only its cast and rosters.
import { createRequire } from 'node:module';
import type { Pool } from 'pg';
import { startProsody, type ProsodyHandle, type ProsodyOptions } from './prosody';
import { startBrokerStack, type BrokerStack, type BrokerStackOptions } from './stack';
import { createTempDatabase, type TempDatabase } from './postgres';
import { connectPepClient, type PepClient } from './pep-client';
import { closeAll, type Client } from './xmpp-client';
import { eventually, sqlRows } from './wait';
import { NS_PUBSUB } from './pubsub-iq';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

export const PASSWORD = 'pw';

export interface PepScenarioOptions {
  /** Users get the password PASSWORD. */
  users: string[];
  prosody?: Omit<ProsodyOptions, 'users'>;
  stack?: Omit<BrokerStackOptions, 'prosody' | 'databaseUrl'>;
}

export interface PepScenario {
  prosody: ProsodyHandle;
  stack: BrokerStack;
  db: TempDatabase;
  sql: Pool;
  sqlRows(text: string, values?: unknown[]): ReturnType<typeof sqlRows>;
  /** A PEP client (caps with `<node>+notify` for `notify`), closed by `stop()`. */
  pep(user: string, resource: string, notify: string[]): Promise<PepClient>;
  /** Waits until each client's presence is in the broker's shared presence state. */
  waitOnline(...pcs: PepClient[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startPepScenario(opts: PepScenarioOptions): Promise<PepScenario> {
  const clients: Client[] = [];
  let prosody: ProsodyHandle | undefined;
  let db: TempDatabase | undefined;
  let sql: Pool | undefined;
  let stack: BrokerStack | undefined;
  const stop = async () => {
    await closeAll(clients);
    await stack?.stop();
    await sql?.end();
    await db?.drop();
    await prosody?.stop();
  };
  try {
    prosody = await startProsody({ ...opts.prosody, users: opts.users.map((user) => ({ user, password: PASSWORD })) });
    db = await createTempDatabase();
    sql = new pg.Pool({ connectionString: db.url, max: 3 });
    stack = await startBrokerStack({ requestTimeoutMs: 5000, mode: 'separate', ...opts.stack, prosody, databaseUrl: db.url });
    const rows = (text: string, values: unknown[] = []) => sqlRows(sql!, text, values);
    await eventually(async () => (await rows('select 1 from grants where namespace = $1', [NS_PUBSUB])).length > 0, 15_000, 'pubsub grant');
    const p = prosody;
    return {
      prosody: p,
      stack,
      db,
      sql,
      sqlRows: rows,
      async pep(user, resource, notify) {
        const c = await connectPepClient({ port: p.c2sPort, user, password: PASSWORD, resource, notify });
        clients.push(c.client);
        return c;
      },
      async waitOnline(...pcs) {
        for (const pc of pcs) {
          await eventually(async () => (await rows('select 1 from presence_sessions where full_jid = $1 and expires_at > now()', [pc.jid])).length > 0, 10_000, `presence of ${pc.jid}`);
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
