// `npm run bench:notify`: the notification-heavy PEP case through ONE Prosody 0.12, two ways, in one run:
//   (a) VirtualHost pep.localhost served by Prosody's own mod_pep: the baseline;
//   (b) VirtualHost localhost, PEP delegated (XEP-0355) to the broker, notifications sent back through
//       XEP-0356 privileged messages from the publisher's bare JID.
// One publisher, M contacts (mutual presence subscription) whose clients advertise `<node>+notify` in
// XEP-0115 caps. The publisher publishes K items one after another; for each we time the publish IQ and
// the fan-out: until every contact has the notification. Reported: p50/p99 of both, notifications
// delivered per second, and CPU seconds per process during the measured window.
//
// Options (CLI flag, or env):
//   --contacts M      BENCH_CONTACTS      contacts online with +notify (default 50)
//   --publishes K     BENCH_PUBLISHES     measured publishes (default 100)
//   --phases a,b      BENCH_PHASES        which phases (default a,b)
//   --mode M          BENCH_STACK_MODE    all-in-one | separate (default separate)
//   --timeout-ms T    BENCH_TIMEOUT_MS    per-publish fan-out bound (default 10000)
//   --server S        BENCH_SERVER        prosody (default) | ejabberd: (a) is then ejabberd's own mod_pubsub PEP
//                                         in a second instance, (b) a delegating instance (protocol :1)
//   --prosody-nagle   BENCH_PROSODY_NAGLE=1  keep Prosody's default Nagle on its sockets (default: off, as
//                     deploy/prosody recommends: with Nagle a reply that follows a notification to the same
//                     client waits for the client's delayed ACK, ~40 ms)
import { parseArgs } from 'node:util';
import type { Element } from '@xmpp/xml';
import { startProsody, PEP_HOST } from '../harness/prosody';
import { startEjabberd } from '../harness/ejabberd';
import { connectClient, closeAll, iq, xml, type Client } from '../harness/xmpp-client';
import { connectPepClient, NS_EVENT } from '../harness/pep-client';
import { startBrokerStack, type BrokerStack, type StackMode } from '../harness/stack';
import { cpuSeconds, cpuSecondsByComm } from '../harness/proc';
import { publishIq } from '../harness/pubsub-iq';

const NODE = 'http://jabber.org/protocol/tune';
const PASSWORD = 'bench-pw';
const PUBLISHER = 'pub';
/** Logins at once (ejabberd resets connections when dozens of logins arrive together). */
const BATCH = 25;
const EJABBERD_BATCH = 5;

const { values } = parseArgs({
  options: {
    contacts: { type: 'string' },
    publishes: { type: 'string' },
    phases: { type: 'string' },
    mode: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'prosody-nagle': { type: 'boolean' },
    server: { type: 'string' },
  },
});
const num = (v: string | undefined, env: string, d: number) => {
  const n = Number(v ?? process.env[env] ?? d);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${env}: positive integer expected`);
  return n;
};
const CONTACTS = num(values.contacts, 'BENCH_CONTACTS', 50);
const PUBLISHES = num(values.publishes, 'BENCH_PUBLISHES', 100);
const TIMEOUT_MS = num(values['timeout-ms'], 'BENCH_TIMEOUT_MS', 10_000);
const PHASES = (values.phases ?? process.env.BENCH_PHASES ?? 'a,b').split(',').map((s) => s.trim()) as Array<'a' | 'b'>;
const PROSODY_NAGLE = values['prosody-nagle'] === true || process.env.BENCH_PROSODY_NAGLE === '1';
const SERVER = (values.server ?? process.env.BENCH_SERVER ?? 'prosody') as 'prosody' | 'ejabberd';
if (SERVER !== 'prosody' && SERVER !== 'ejabberd') throw new Error('--server: prosody or ejabberd');
const MODE = (values.mode ?? process.env.BENCH_STACK_MODE ?? 'separate') as StackMode;

const contactName = (i: number) => `c${i}`;

interface PhaseResult {
  publishMs: number[];
  fanoutMs: number[];
  lost: number;
  wallSeconds: number;
  cpu: Record<string, number>;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function runPhase(server: { c2sPort: number }, host: string, probes: Record<string, () => number | undefined>): Promise<PhaseResult> {
  const owner = `${PUBLISHER}@${host}`;
  const clients: Client[] = [];
  // item id -> contacts that got it, and when the last did
  const got = new Map<string, { n: number; last: number }>();
  const onEvent = (el: Element) => {
    if (el.name !== 'message' || el.attrs.from !== owner) return;
    for (const item of el.getChild('event', NS_EVENT)?.getChild('items')?.getChildren('item') ?? []) {
      const e = got.get(item.attrs.id as string) ?? { n: 0, last: 0 };
      e.n++;
      e.last = performance.now();
      got.set(item.attrs.id as string, e);
    }
  };
  try {
    const batchSize = SERVER === 'ejabberd' ? EJABBERD_BATCH : BATCH;
    for (let i = 0; i < CONTACTS; i += batchSize) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(batchSize, CONTACTS - i) }, (_, j) =>
          connectPepClient({ port: server.c2sPort, user: contactName(i + j), password: PASSWORD, domain: host, resource: 'bench', notify: [NODE] })),
      );
      for (const pc of batch) {
        clients.push(pc.client);
        pc.client.on('stanza', onEvent);
      }
    }
    const publisher = await connectClient({ port: server.c2sPort, user: PUBLISHER, password: PASSWORD, domain: host, resource: 'bench', presence: true });
    clients.push(publisher);
    const publishOne = async (id: string) => {
      const t0 = performance.now();
      await iq(publisher, publishIq(NODE, id, xml('tune', { xmlns: NODE }, xml('title', {}, id))), TIMEOUT_MS);
      const t1 = performance.now();
      const until = t0 + TIMEOUT_MS;
      while ((got.get(id)?.n ?? 0) < CONTACTS && performance.now() < until) await new Promise((r) => setTimeout(r, 1));
      const e = got.get(id);
      return { publishMs: t1 - t0, fanoutMs: e && e.n >= CONTACTS ? e.last - t0 : undefined, received: e?.n ?? 0 };
    };
    // warm-up: until every contact's presence and caps have reached the service (both resolve caps lazily)
    const warmUntil = Date.now() + 60_000;
    for (let w = 0; ; w++) {
      const r = await publishOne(`warm-${w}`);
      if (r.received >= CONTACTS) break;
      if (Date.now() > warmUntil) throw new Error(`warm-up: only ${r.received}/${CONTACTS} contacts notified after 60 s`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const before = Object.fromEntries(Object.entries(probes).map(([k, f]) => [k, f() ?? NaN]));
    const started = performance.now();
    const publishMs: number[] = [];
    const fanoutMs: number[] = [];
    let lost = 0;
    for (let k = 0; k < PUBLISHES; k++) {
      const r = await publishOne(`item-${k}`);
      publishMs.push(r.publishMs);
      if (r.fanoutMs === undefined) lost += CONTACTS - r.received;
      else fanoutMs.push(r.fanoutMs);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = Object.fromEntries(Object.entries(probes).map(([k, f]) => [k, (f() ?? NaN) - before[k]!]));
    return { publishMs, fanoutMs, lost, wallSeconds, cpu };
  } finally {
    await closeAll(clients);
  }
}

async function runProsody(results: Partial<Record<'a' | 'b', PhaseResult>>) {
  const rosterOf = (host: string) => [{ jid: `${PUBLISHER}@${host}`, subscription: 'both' as const }];
  const hosts = ['localhost', PEP_HOST];
  const users = hosts.flatMap((host) => [PUBLISHER, ...Array.from({ length: CONTACTS }, (_, i) => contactName(i))].map((user) => ({ user, password: PASSWORD, host })));
  const rosters = hosts.flatMap((host) => [
    { user: PUBLISHER, host, items: Array.from({ length: CONTACTS }, (_, i) => ({ jid: `${contactName(i)}@${host}`, subscription: 'both' as const })) },
    ...Array.from({ length: CONTACTS }, (_, i) => ({ user: contactName(i), host, items: rosterOf(host) })),
  ]);
  const prosody = await startProsody({ users, rosterList: rosters, pepHost: true, logLevel: 'warn', nagle: PROSODY_NAGLE });
  let stack: BrokerStack | undefined;
  try {
    if (PHASES.includes('a')) {
      console.log(`(a) mod_pep: ${CONTACTS} contacts, ${PUBLISHES} publishes`);
      results.a = await runPhase(prosody, PEP_HOST, { prosody: () => cpuSeconds(prosody.pid) });
    }
    if (PHASES.includes('b')) {
      stack = await startBrokerStack({ prosody, mode: MODE, logLevel: 'warn', requestTimeoutMs: TIMEOUT_MS, env: { RATE_LIMIT_PER_SECOND: '0' } });
      console.log(`(b) broker (${MODE}): ${CONTACTS} contacts, ${PUBLISHES} publishes`);
      results.b = await runPhase(prosody, 'localhost', stackProbes(stack, { prosody: () => cpuSeconds(prosody.pid) }));
    }
  } finally {
    await stack?.stop();
    await prosody.stop();
  }
}

async function runEjabberd(results: Partial<Record<'a' | 'b', PhaseResult>>) {
  const users = [PUBLISHER, ...Array.from({ length: CONTACTS }, (_, i) => contactName(i))].map((user) => ({ user, password: PASSWORD }));
  const rosters: Record<string, Array<{ jid: string; subscription: 'both' }>> = {
    [PUBLISHER]: Array.from({ length: CONTACTS }, (_, i) => ({ jid: `${contactName(i)}@localhost`, subscription: 'both' as const })),
    ...Object.fromEntries(Array.from({ length: CONTACTS }, (_, i) => [contactName(i), [{ jid: `${PUBLISHER}@localhost`, subscription: 'both' as const }]])),
  };
  for (const key of PHASES) {
    const server = await startEjabberd({ users, rosters, logLevel: 'warning', ...(key === 'a' ? { broker: false, pep: true } : {}) });
    const probe = { ejabberd: () => cpuSeconds(server.beamPid ?? server.pid) };
    let stack: BrokerStack | undefined;
    try {
      if (key === 'a') {
        console.log(`(a) mod_pubsub: ${CONTACTS} contacts, ${PUBLISHES} publishes`);
        results.a = await runPhase(server, server.domain, probe);
      } else {
        stack = await startBrokerStack({ prosody: server, mode: MODE, logLevel: 'warn', requestTimeoutMs: TIMEOUT_MS, env: { RATE_LIMIT_PER_SECOND: '0' } });
        console.log(`(b) broker (${MODE}): ${CONTACTS} contacts, ${PUBLISHES} publishes`);
        results.b = await runPhase(server, server.domain, stackProbes(stack, probe));
      }
    } finally {
      await stack?.stop();
      await server.stop();
    }
  }
}

function stackProbes(stack: BrokerStack, base: Record<string, () => number | undefined>): Record<string, () => number | undefined> {
  const probes = { ...base };
  for (const [name, pid] of Object.entries(stack.pids)) probes[`broker ${name}`] = () => cpuSeconds(pid!);
  if (stack.natsPid) probes['nats-server'] = () => cpuSeconds(stack.natsPid!);
  probes['postgres'] = () => cpuSecondsByComm((c) => c === 'postgres').seconds;
  return probes;
}

async function main() {
  const results: Partial<Record<'a' | 'b', PhaseResult>> = {};
  if (SERVER === 'ejabberd') await runEjabberd(results);
  else await runProsody(results);
  const cols = (['a', 'b'] as const).filter((k) => results[k]);
  const title = { a: SERVER === 'ejabberd' ? '(a) mod_pubsub' : '(a) mod_pep', b: `(b) broker ${MODE}` };
  const row = (label: string, f: (r: PhaseResult) => string) => console.log(`${label.padEnd(34)}${cols.map((k) => f(results[k]!).padStart(22)).join('')}`);
  console.log(`\nnotification fan-out on ${SERVER === 'ejabberd' ? 'ejabberd 23.01' : `Prosody 0.12 (nagle ${PROSODY_NAGLE ? 'on' : 'off'})`}: 1 publisher, ${CONTACTS} contacts with +notify, ${PUBLISHES} sequential publishes`);
  console.log(`${''.padEnd(34)}${cols.map((k) => title[k].padStart(22)).join('')}`);
  row('publish IQ p50 / p99 (ms)', (r) => `${pct(r.publishMs, 50).toFixed(1)} / ${pct(r.publishMs, 99).toFixed(1)}`);
  row('fan-out complete p50 / p99 (ms)', (r) => `${pct(r.fanoutMs, 50).toFixed(1)} / ${pct(r.fanoutMs, 99).toFixed(1)}`);
  row('notifications delivered / s', (r) => (((r.fanoutMs.length * CONTACTS) / r.wallSeconds) || 0).toFixed(0));
  row('notifications lost', (r) => String(r.lost));
  const procs = [...new Set(cols.flatMap((k) => Object.keys(results[k]!.cpu)))];
  for (const p of procs) row(`CPU ms per notification: ${p}`, (r) => (r.cpu[p] === undefined ? '-' : ((r.cpu[p]! * 1000) / Math.max(1, r.fanoutMs.length * CONTACTS)).toFixed(3)));
  if (results.a && results.b) console.log(`\nfan-out p50 ratio b/a: ${(pct(results.b.fanoutMs, 50) / pct(results.a.fanoutMs, 50)).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
