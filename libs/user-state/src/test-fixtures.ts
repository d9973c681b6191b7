// Shared test data and helpers (no tests here).
import type { IqRequestEnvelope, IqResponseEnvelope } from '@dbroker/bus';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle, type RawDb, type RawQuery } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import type { SendIq, UserStateLogger } from './types';

// XEP-0115 §5.2 (simple generation example): the answer of the §2 introduction.
export const SIMPLE_QUERY = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
    <identity category='client' name='Exodus 0.9.1' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
  </query>`;
export const SIMPLE_VER = 'QgayPKawpkPSDYmwT/WM94uAlu0=';

// XEP-0115 §5.3 (complex generation example), features listed out of order to exercise the sort.
export const COMPLEX_QUERY = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='software_version'><value>0.11</value></field>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
      <field var='ip_version'><value>ipv6</value><value>ipv4</value></field>
      <field var='os'><value>Mac</value></field>
      <field var='os_version'><value>10.5.1</value></field>
      <field var='software'><value>Psi</value></field>
    </x>
  </query>`;
export const COMPLEX_VER = 'q07IKJEyjvHSyhy//CH0CxmKi8w=';

// ---- databases, clock, canned ingress ------------------------------------------------------------------

export const BACKENDS = ['postgres', 'pglite'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface TestDb {
  handle: DatabaseHandle;
  /** `handle.raw`, counting statements by name. */
  raw: RawDb;
  queries: string[];
  close(): Promise<void>;
}

/** A migrated throw-away database: a temporary database on the local Postgres, or PGlite in memory. */
export async function openTestDb(backend: Backend): Promise<TestDb> {
  let temp: TempDatabase | undefined;
  if (backend === 'postgres') temp = await createTempDatabase('dbroker_userstate');
  const handle = await createDatabase({ url: temp?.url });
  await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
  const queries: string[] = [];
  const count = (q: RawQuery) => queries.push(q.name ?? q.text);
  const raw: RawDb = {
    query: (q) => (count(q), handle.raw.query(q)),
    transaction: (fn) => handle.raw.transaction((tx) => fn({ query: (q) => (count(q), tx.query(q)) })),
  };
  return {
    handle,
    raw,
    queries,
    async close() {
      await handle.close();
      await temp?.drop();
    },
  };
}

/** A settable clock. */
export function testClock(start = Date.UTC(2025, 0, 1)) {
  let t = start;
  return {
    now: () => new Date(t),
    get ms() {
      return t;
    },
    set(ms: number) {
      t = ms;
    },
    advance(ms: number) {
      t += ms;
    },
  };
}

export interface CannedIngress {
  sendIq: SendIq;
  calls: IqRequestEnvelope[];
  /** While set, answers wait until `release()`. */
  hold(): void;
  release(): void;
}

/**
 * The ingress side of `sendIq` (the contract boundary): answers each request with `answer(env)`: a
 * response envelope, or a string taken as the response stanza (`ok: true`); a thrown error rejects.
 */
export function cannedIngress(answer: (env: IqRequestEnvelope) => IqResponseEnvelope | string): CannedIngress {
  const calls: IqRequestEnvelope[] = [];
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  return {
    calls,
    async sendIq(env) {
      calls.push(env);
      if (gate) await gate.promise;
      const a = answer(env);
      return typeof a === 'string' ? { v: 1, ok: true, stanza: a } : a;
    },
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { promise, open };
    },
    release() {
      const g = gate;
      gate = undefined;
      g?.open();
    },
  };
}

export interface CapturedLog {
  level: 'warn' | 'debug';
  obj: object;
  msg: string | undefined;
}

export function captureLogger(): UserStateLogger & { entries: CapturedLog[] } {
  const entries: CapturedLog[] = [];
  return {
    entries,
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    debug: (obj, msg) => void entries.push({ level: 'debug', obj, msg }),
  };
}

/** Lets queued microtasks and pending I/O callbacks run (no timers involved). */
export const settle = () => new Promise<void>((r) => setImmediate(r));
