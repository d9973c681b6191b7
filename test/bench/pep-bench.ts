// `npm run bench`: PEP publish+retrieve through ONE Prosody 0.12, two ways, in the same run:
//   (a) VirtualHost pep.localhost served by Prosody's own mod_pep (file storage): the baseline;
//   (b) VirtualHost localhost, whose pubsub namespace is delegated (XEP-0355) to our broker
//       (services/*, started by test/harness/stack.ts over NATS + Postgres);
//   (c) optional: the same delegated path to test/harness/fixtures/instant-pep-component.ts, an in-memory
//       component that answers at once: the ceiling of Prosody's delegation path, for scale.
// N real XMPP clients (SASL PLAIN, TCP loopback) each do K sequential publish+retrieve pairs on their own
// PEP node; we report IQ/s, p50/p99 per operation, and CPU seconds per process group during the measured
// window (from /proc/PID/stat) to show which process is the bottleneck.
//
// Options (CLI flag, or env):
//   --clients N            BENCH_CLIENTS            concurrent clients (default 20)
//   --ops K                BENCH_OPS                publish+retrieve pairs per client (default 200)
//   --warmup W             BENCH_WARMUP             unmeasured pairs per client first (default 5)
//   --phases a,b[,c]       BENCH_PHASES             which phases to run (default a,b)
//   --mode M               BENCH_STACK_MODE         all-in-one | separate (default all-in-one)
//   --worker-concurrency C BENCH_WORKER_CONCURRENCY WORKER_CONCURRENCY for the pep worker
//   --payload-bytes B      BENCH_PAYLOAD_BYTES      item payload size (default 64)
//   --op-timeout-ms T      BENCH_OP_TIMEOUT_MS      per-IQ timeout (default 5000)
//   --max-seconds S        BENCH_MAX_SECONDS        wall-clock cap of each measured phase (default 120)
//   --prosody-nodelay      BENCH_PROSODY_NODELAY=1  network_settings.nagle = false in Prosody
//   --server S             BENCH_SERVER             prosody (default) | ejabberd: the same phases on ejabberd 23.01:
//                          (a) is ejabberd's own mod_pubsub PEP (mnesia) in a second instance without the broker,
//                          (b) and (c) one instance delegating to the broker / the instant component (delegation :1)
//   --json                 BENCH_JSON=1             also print the results as JSON
//   BENCH_BROKER_ENTRY=F   run the broker service (all-in-one, or BENCH_PROFILE_SERVICE in separate mode) from
//                          F instead of its main.ts, e.g. test/bench/profile-entry.ts to take a CPU profile
// Exit code 3 when a requested broker phase could not run (the table still shows what did).
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startProsody, PEP_HOST, type ProsodyHandle } from '../harness/prosody';
import { startEjabberd, type EjabberdHandle } from '../harness/ejabberd';
import { connectClient, closeAll, iq, xml, IqTimeoutError, StanzaErrorResponse, type Client } from '../harness/xmpp-client';
import { startBrokerStack, StackStartError, INSTANT_PEP_FIXTURE, type BrokerStack, type StackMode, type XmppServerCoordinates } from '../harness/stack';
import { cpuSeconds, cpuSecondsByComm } from '../harness/proc';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NODE = 'urn:xmpp:bench:0';
const ITEM_ID = 'current';
const PASSWORD = 'bench-pw';
const CONNECT_BATCH = 25;
const MAX_ERROR_SAMPLES = 5;
/** Processes that cannot be scaled out: one XMPP server process, one ingress per component JID. */
const SINGLETON = /^(prosody|ejabberd|broker ingress|broker all-in-one)$/;

// ---- options ------------------------------------------------------------------------------------------------

type PhaseKey = 'a' | 'b' | 'c';
const PHASE_KEYS: PhaseKey[] = ['a', 'b', 'c'];
type ServerKind = 'prosody' | 'ejabberd';
const PHASE_TITLES: Record<PhaseKey, string> = { a: '(a) mod_pep', b: '(b) broker', c: '(c) instant comp.' };
/** Called once the server kind is known: on ejabberd, phase (a) is mod_pubsub's PEP. */
function setServerTitles(server: ServerKind): void {
  if (server === 'ejabberd') PHASE_TITLES.a = '(a) mod_pubsub';
}

interface BenchOptions {
  clients: number;
  ops: number;
  warmup: number;
  phases: PhaseKey[];
  mode: StackMode;
  workerConcurrency: number | undefined;
  payloadBytes: number;
  opTimeoutMs: number;
  maxSeconds: number;
  prosodyNoDelay: boolean;
  server: ServerKind;
  json: boolean;
}

function boundedInt(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}] (got ${raw})`);
  return n;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string' }, ops: { type: 'string' }, warmup: { type: 'string' }, phases: { type: 'string' },
      mode: { type: 'string' }, 'worker-concurrency': { type: 'string' }, 'payload-bytes': { type: 'string' },
      'op-timeout-ms': { type: 'string' }, 'max-seconds': { type: 'string' }, 'prosody-nodelay': { type: 'boolean' },
      server: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--clients N] [--ops K] [--warmup W] [--phases a,b] [--mode all-in-one|separate] [--worker-concurrency C] [--payload-bytes B] [--op-timeout-ms T] [--max-seconds S] [--prosody-nodelay] [--server prosody|ejabberd] [--json]');
    process.exit(0);
  }
  const phases = (values.phases ?? env.BENCH_PHASES ?? 'a,b').split(',').map((p) => p.trim()).filter(Boolean);
  if (phases.length === 0 || phases.some((p) => !PHASE_KEYS.includes(p as PhaseKey))) throw new Error(`--phases must list some of a,b,c (got ${phases.join(',')})`);
  const mode = values.mode ?? env.BENCH_STACK_MODE ?? 'all-in-one';
  if (mode !== 'all-in-one' && mode !== 'separate') throw new Error(`--mode must be all-in-one or separate (got ${mode})`);
  const wc = values['worker-concurrency'] ?? env.BENCH_WORKER_CONCURRENCY;
  const server = values.server ?? env.BENCH_SERVER ?? 'prosody';
  if (server !== 'prosody' && server !== 'ejabberd') throw new Error(`--server must be prosody or ejabberd (got ${server})`);
  return {
    clients: boundedInt('--clients', values.clients ?? env.BENCH_CLIENTS, 20, 1, 500),
    ops: boundedInt('--ops', values.ops ?? env.BENCH_OPS, 200, 1, 100_000),
    warmup: boundedInt('--warmup', values.warmup ?? env.BENCH_WARMUP, 5, 0, 1_000),
    phases: PHASE_KEYS.filter((k) => phases.includes(k)),
    mode,
    workerConcurrency: wc === undefined ? undefined : boundedInt('--worker-concurrency', wc, 1, 1, 1_024),
    payloadBytes: boundedInt('--payload-bytes', values['payload-bytes'] ?? env.BENCH_PAYLOAD_BYTES, 64, 0, 200_000),
    opTimeoutMs: boundedInt('--op-timeout-ms', values['op-timeout-ms'] ?? env.BENCH_OP_TIMEOUT_MS, 5_000, 100, 120_000),
    maxSeconds: boundedInt('--max-seconds', values['max-seconds'] ?? env.BENCH_MAX_SECONDS, 120, 1, 3_600),
    prosodyNoDelay: values['prosody-nodelay'] ?? env.BENCH_PROSODY_NODELAY === '1',
    server,
    json: values.json ?? env.BENCH_JSON === '1',
  };
}

// ---- measurement --------------------------------------------------------------------------------------------

interface CpuProbe {
  label: string;
  read(): number | undefined;
}

interface PhaseResult {
  label: string;
  clients: number;
  wallSeconds: number;
  publishMs: number[];
  retrieveMs: number[];
  errors: Map<string, number>;
  errorSamples: string[];
  /** CPU seconds used during the measured window, per probe label. */
  cpu: Record<string, number>;
  truncatedByTime: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const publishIq = (k: number, pad: string) =>
  xml('iq', { type: 'set' },
    xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node: NODE }, xml('item', { id: ITEM_ID }, xml('entry', { xmlns: 'urn:xmpp:bench', n: String(k) }, pad)))));

const retrieveIq = (to: string) =>
  xml('iq', { type: 'get', to }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NODE }, xml('item', { id: ITEM_ID }))));

function describeError(err: unknown): string {
  if (err instanceof StanzaErrorResponse) return `${err.type}/${err.condition}`;
  if (err instanceof IqTimeoutError) return 'timeout';
  return (err as Error)?.message?.slice(0, 80) ?? String(err);
}

async function connectAll(port: number, domain: string, n: number): Promise<Client[]> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < n; i += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, n - i) }, (_, j) =>
        connectClient({ port, user: `bench${i + j}`, password: PASSWORD, domain, resource: 'bench' }));
      clients.push(...(await Promise.all(batch)));
    }
  } catch (err) {
    await closeAll(clients);
    throw err;
  }
  return clients;
}

async function runPhase(label: string, port: number, domain: string, opts: BenchOptions, probes: CpuProbe[]): Promise<PhaseResult> {
  const pad = 'x'.repeat(opts.payloadBytes);
  const t0 = performance.now();
  const clients = await connectAll(port, domain, opts.clients);
  const loginMs = performance.now() - t0;
  const result: PhaseResult = {
    label, clients: clients.length, wallSeconds: 0, publishMs: [], retrieveMs: [], errors: new Map(), errorSamples: [], cpu: {}, truncatedByTime: false,
  };
  const fail = (what: string, err: unknown) => {
    const key = `${what}: ${describeError(err)}`;
    result.errors.set(key, (result.errors.get(key) ?? 0) + 1);
    if (result.errorSamples.length < MAX_ERROR_SAMPLES) result.errorSamples.push(`${key}${err instanceof StanzaErrorResponse && err.text ? ` (${err.text})` : ''}`);
  };

  /** One client's loop: bounded by count and by the deadline. */
  const loop = async (c: Client, count: number, deadline: number, record: boolean) => {
    const bare = c.jid!.bare().toString();
    for (let k = 0; k < count && performance.now() < deadline; k++) {
      let t = performance.now();
      try {
        await iq(c, publishIq(k, pad), opts.opTimeoutMs);
        if (record) result.publishMs.push(performance.now() - t);
      } catch (err) {
        if (record) fail('publish', err);
        continue;
      }
      t = performance.now();
      try {
        const res = await iq(c, retrieveIq(bare), opts.opTimeoutMs);
        const elapsed = performance.now() - t;
        const entry = res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').find((i) => i.attrs.id === ITEM_ID)?.getChild('entry', 'urn:xmpp:bench');
        if (entry?.attrs.n !== String(k)) throw new Error(`read-your-write mismatch: published n=${k}, got ${entry?.attrs.n ?? 'no item'}`);
        if (record) result.retrieveMs.push(elapsed);
      } catch (err) {
        if (record) fail('retrieve', err);
      }
    }
  };

  try {
    if (opts.warmup > 0) {
      const warmDeadline = performance.now() + Math.min(30_000, opts.maxSeconds * 1_000);
      await Promise.all(clients.map((c) => loop(c, opts.warmup, warmDeadline, false)));
      // A service that cannot answer at all is reported, not measured for minutes.
      const probe = await iq(clients[0]!, retrieveIq(clients[0]!.jid!.bare().toString()), opts.opTimeoutMs).then(() => undefined, (err: unknown) => err);
      if (probe) throw new Error(`${label}: PEP is not answering after warm-up (${describeError(probe)})`);
    }
    const before = probes.map((p) => p.read());
    const start = performance.now();
    const deadline = start + opts.maxSeconds * 1_000;
    await Promise.all(clients.map((c) => loop(c, opts.ops, deadline, true)));
    const end = performance.now();
    const after = probes.map((p) => p.read());
    result.wallSeconds = (end - start) / 1_000;
    result.truncatedByTime = end >= deadline;
    probes.forEach((p, i) => {
      const b = before[i];
      const a = after[i];
      if (a !== undefined && b !== undefined) result.cpu[p.label] = a - b;
    });
    console.error(`[bench] ${label}: ${clients.length} logins in ${loginMs.toFixed(0)} ms; measured ${result.wallSeconds.toFixed(2)} s`);
  } finally {
    await closeAll(clients);
  }
  return result;
}

// ---- report -------------------------------------------------------------------------------------------------

interface Summary {
  iqPerSecond: number;
  pairsPerSecond: number;
  publish: { n: number; p50: number; p99: number };
  retrieve: { n: number; p50: number; p99: number };
  errors: number;
}

function summarize(r: PhaseResult): Summary {
  const pub = [...r.publishMs].sort((a, b) => a - b);
  const ret = [...r.retrieveMs].sort((a, b) => a - b);
  const ok = pub.length + ret.length;
  return {
    iqPerSecond: r.wallSeconds > 0 ? ok / r.wallSeconds : 0,
    pairsPerSecond: r.wallSeconds > 0 ? ret.length / r.wallSeconds : 0,
    publish: { n: pub.length, p50: percentile(pub, 50), p99: percentile(pub, 99) },
    retrieve: { n: ret.length, p50: percentile(ret, 50), p99: percentile(ret, 99) },
    errors: [...r.errors.values()].reduce((a, b) => a + b, 0),
  };
}

interface PhaseOutcome {
  key: PhaseKey;
  result?: PhaseResult;
  /** why the phase did not run or did not finish */
  note?: string;
}

function printTable(opts: BenchOptions, outcomes: PhaseOutcome[]): void {
  const fmt = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(digits));
  const ratio = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined || !y || Number.isNaN(x) || Number.isNaN(y) ? 'n/a' : `${(x / y).toFixed(2)}x`);
  const sums = new Map(outcomes.map((o) => [o.key, o.result && summarize(o.result)] as const));
  const res = new Map(outcomes.map((o) => [o.key, o.result] as const));
  const metrics: Array<[string, (s: Summary, r: PhaseResult) => number | undefined, number]> = [
    ['throughput (IQ/s)', (s) => s.iqPerSecond, 0],
    ['publish+retrieve pairs/s', (s) => s.pairsPerSecond, 0],
    ['publish p50 (ms)', (s) => s.publish.p50, 2],
    ['publish p99 (ms)', (s) => s.publish.p99, 2],
    ['retrieve p50 (ms)', (s) => s.retrieve.p50, 2],
    ['retrieve p99 (ms)', (s) => s.retrieve.p99, 2],
    ['ok publishes', (s) => s.publish.n, 0],
    ['errors + timeouts', (s) => s.errors, 0],
    ['measured wall time (s)', (_s, r) => r.wallSeconds, 2],
  ];
  const cpuLabels = [...new Set(outcomes.flatMap((o) => Object.keys(o.result?.cpu ?? {})))];
  for (const l of cpuLabels) metrics.push([`CPU s: ${l}`, (_s, r) => r.cpu[l], 2]);
  const keys = outcomes.map((o) => o.key);
  const ratioKeys = keys.filter((k) => k !== 'a' && keys.includes('a'));
  const w0 = 34;
  const w = 17;
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w0) : c.padStart(i <= keys.length ? w : 9))).join(' ');
  console.log('');
  console.log(`PEP benchmark: ${opts.clients} clients x ${opts.ops} publish+retrieve pairs (warm-up ${opts.warmup}), payload ${opts.payloadBytes} B, ` +
    `${opts.server === 'ejabberd' ? 'ejabberd 23.01' : `Prosody nagle=${opts.prosodyNoDelay ? 'off' : 'on'}`}, broker mode ${opts.mode}${opts.workerConcurrency ? `, WORKER_CONCURRENCY=${opts.workerConcurrency}` : ''}`);
  console.log(`host: ${availableParallelism()} CPUs, load average (1 min) ${loadavg()[0]!.toFixed(2)} at the end; other load on the host skews every column`);
  console.log(line(['', ...keys.map((k) => PHASE_TITLES[k]), ...ratioKeys.map((k) => `${k}/a`)]));
  console.log(line(['-'.repeat(w0), ...keys.map(() => '-'.repeat(w)), ...ratioKeys.map(() => '-'.repeat(9))]));
  for (const [name, get, digits] of metrics) {
    const value = (k: PhaseKey) => { const s = sums.get(k); const r = res.get(k); return s && r ? get(s, r) : undefined; };
    console.log(line([name, ...keys.map((k) => fmt(value(k), digits)), ...ratioKeys.map((k) => ratio(value(k), value('a')))]));
  }
  for (const o of outcomes) {
    const r = o.result;
    if (r && r.wallSeconds > 0) {
      const entries = Object.entries(r.cpu).sort((x, y) => y[1] - x[1]);
      const shares = entries.map(([l, v]) => `${l} ${((100 * v) / r.wallSeconds).toFixed(0)}%`).join(', ');
      console.log(`${r.label}: CPU as % of one core: ${shares}; busiest: ${entries[0]?.[0] ?? 'n/a'}`);
      // IQs per CPU-second of each process: the throughput it could carry with a core of its own. Only
      // single-threaded singletons cap the whole (the XMPP server, the ingress: one component stream);
      // PEP/MAM workers, the projector, NATS and Postgres backends scale out over cores and replicas.
      const iqs = summarize(r).iqPerSecond * r.wallSeconds;
      const ceilings = entries.filter(([, v]) => v > 0).map(([l, v]) => `${l} ${(iqs / v).toFixed(0)}${SINGLETON.test(l) ? ' (singleton)' : ''}`).join(', ');
      console.log(`${r.label}: IQ/s per CPU-second (ceiling at one core): ${ceilings}`);
      if (r.truncatedByTime) console.log(`${r.label}: stopped by --max-seconds before all ops were done`);
      for (const sample of r.errorSamples) console.log(`${r.label}: error sample: ${sample}`);
    }
    if (o.note) console.log(`${PHASE_TITLES[o.key]}: ${o.note}`);
  }
  if (opts.json) {
    const out = Object.fromEntries(outcomes.map((o) => {
      const s = o.result && summarize(o.result);
      return [o.key, { ...(s ?? {}), wallSeconds: o.result?.wallSeconds, cpuSeconds: o.result?.cpu, errors: o.result && Object.fromEntries(o.result.errors), note: o.note }];
    }));
    console.log(JSON.stringify({ options: opts, phases: out }, null, 2));
  }
}

// ---- main ---------------------------------------------------------------------------------------------------

/** Where delegated phases run: the server's component coordinates plus its c2s port. */
type DelegatingServer = XmppServerCoordinates & { c2sPort: number };

async function runDelegatedPhase(key: 'b' | 'c', prosody: DelegatingServer, opts: BenchOptions, prosodyProbe: CpuProbe, self: CpuProbe): Promise<PhaseOutcome> {
  const t = performance.now();
  let stack: BrokerStack;
  try {
    stack = await startBrokerStack({
      prosody,
      mode: key === 'c' ? 'all-in-one' : opts.mode,
      workerConcurrency: opts.workerConcurrency,
      logLevel: 'warn',
      // a throughput benchmark: each client sends as fast as it can, above the per-user rate a real client keeps
      env: { RATE_LIMIT_PER_SECOND: '0' },
      ...(key === 'c' ? { entryPoints: { 'all-in-one': INSTANT_PEP_FIXTURE } } : process.env.BENCH_BROKER_ENTRY ? { entryPoints: { [opts.mode === 'separate' ? (process.env.BENCH_PROFILE_SERVICE ?? 'pep') : 'all-in-one']: process.env.BENCH_BROKER_ENTRY } } : {}),
    });
  } catch (err) {
    const note = err instanceof StackStartError
      ? `SKIPPED: the broker stack did not come up: ${err.message}${err.logTail ? `\n--- last log lines of ${err.service} ---\n${err.logTail}` : ''}`
      : `SKIPPED: the broker stack did not come up: ${(err as Error).message}`;
    return { key, note };
  }
  try {
    console.error(`[bench] ${PHASE_TITLES[key]} stack (${stack.mode}) ready in ${(performance.now() - t).toFixed(0)} ms: ${JSON.stringify(stack.pids)}`);
    const probes: CpuProbe[] = [
      prosodyProbe,
      ...Object.entries(stack.pids).map(([name, pid]) => ({ label: `${key === 'c' ? 'instant component' : `broker ${name}`}`, read: () => cpuSeconds(pid!) })),
      ...(key === 'b' && stack.natsPid ? [{ label: 'nats-server', read: () => cpuSeconds(stack.natsPid!) }] : []),
      ...(key === 'b' ? [{ label: 'postgres (all backends)', read: () => cpuSecondsByComm((c) => c === 'postgres').seconds }] : []),
      self,
    ];
    try {
      return { key, result: await runPhase(PHASE_TITLES[key], prosody.c2sPort, prosody.domain, opts, probes) };
    } catch (err) {
      const tailLines = (await stack.logs(stack.ingress)).split('\n').slice(-30).join('\n');
      return { key, note: `FAILED: ${(err as Error).message}${tailLines.trim() ? `\n--- last log lines of ${stack.ingress} ---\n${tailLines}` : ''}` };
    }
  } finally {
    await stack.stop().catch((err: unknown) => console.error('[bench] stack stop failed', err));
  }
}

/** `--server ejabberd`: phase (a) on a second instance with mod_pubsub, (b)/(c) on one delegating to the component. */
async function mainEjabberd(opts: BenchOptions): Promise<void> {
  const users = Array.from({ length: opts.clients }, (_, i) => ({ user: `bench${i}`, password: PASSWORD }));
  const self: CpuProbe = { label: 'bench clients (this process)', read: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; } };
  const probeOf = (h: EjabberdHandle): CpuProbe => ({ label: 'ejabberd', read: () => cpuSeconds(h.beamPid ?? h.pid) });
  const outcomes: PhaseOutcome[] = [];
  let interrupted = false;
  const onSignal = () => { interrupted = true; console.error('[bench] interrupted; finishing the current phase, then cleaning up'); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const key of opts.phases) {
      if (interrupted) break;
      const t = performance.now();
      const server = await startEjabberd({ users, logLevel: 'warning', ...(key === 'a' ? { broker: false, pep: true } : {}) });
      console.error(`[bench] ejabberd (beam pid ${server.beamPid}) for ${PHASE_TITLES[key]} up with ${users.length} accounts in ${(performance.now() - t).toFixed(0)} ms`);
      try {
        if (key === 'a') {
          try {
            outcomes.push({ key, result: await runPhase(PHASE_TITLES.a, server.c2sPort, server.domain, opts, [probeOf(server), self]) });
          } catch (err) {
            outcomes.push({ key, note: `FAILED: ${(err as Error).message}` });
          }
        } else {
          outcomes.push(await runDelegatedPhase(key, server, opts, probeOf(server), self));
        }
      } finally {
        await server.stop();
      }
    }
    printTable(opts, outcomes);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (outcomes.some((o) => !o.result)) process.exitCode = 3;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  setServerTitles(opts.server);
  if (opts.server === 'ejabberd') return await mainEjabberd(opts);
  const users = Array.from({ length: opts.clients }, (_, i) => [
    { user: `bench${i}`, password: PASSWORD, host: 'localhost' },
    { user: `bench${i}`, password: PASSWORD, host: PEP_HOST },
  ]).flat();
  const t = performance.now();
  const prosody: ProsodyHandle = await startProsody({ pepHost: true, logLevel: 'warn', users, nagle: opts.prosodyNoDelay ? false : undefined });
  console.error(`[bench] prosody pid ${prosody.pid} up with ${users.length} accounts in ${(performance.now() - t).toFixed(0)} ms (c2s ${prosody.c2sPort}, component ${prosody.componentPort})`);
  const self: CpuProbe = { label: 'bench clients (this process)', read: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; } };
  const prosodyProbe: CpuProbe = { label: 'prosody', read: () => cpuSeconds(prosody.pid) };
  const outcomes: PhaseOutcome[] = [];
  let interrupted = false;
  const onSignal = () => { interrupted = true; console.error('[bench] interrupted; finishing the current phase, then cleaning up'); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const key of opts.phases) {
      if (interrupted) break;
      if (key === 'a') {
        try {
          outcomes.push({ key, result: await runPhase(PHASE_TITLES.a, prosody.c2sPort, PEP_HOST, opts, [prosodyProbe, self]) });
        } catch (err) {
          outcomes.push({ key, note: `FAILED: ${(err as Error).message}` });
        }
      } else {
        outcomes.push(await runDelegatedPhase(key, prosody, opts, prosodyProbe, self));
      }
    }
    printTable(opts, outcomes);
  } finally {
    await prosody.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (outcomes.some((o) => !o.result)) process.exitCode = 3;
}

main().catch((err: unknown) => {
  console.error('[bench] failed:', err);
  process.exitCode = 1;
});
