// `npm run bench:mam`: paging through the MAM archive of ONE PEP node holding 100,000 events, to show that a
// page costs the same at any depth (keyset pagination on (node_id, seq), no OFFSET).
//
// Seeding: one bulk INSERT ... SELECT generate_series into pubsub_node_events (not 100k IQs): the bench
// node gets N events (publishes with ~200-byte Atom payloads, every 10th a retract, one a second), and as
// many again go to 99 other nodes, interleaved, so the node's rows are spread over the table as in real
// life. Then VACUUM ANALYZE (what autovacuum does to an append-only table soon after a bulk load).
//
// Two levels, each page kind repeated, p50/p95 reported:
//   handler   `@dbroker/mam` createMamIqHandler on Postgres (node lookup, access decision, UID check, page
//             query, count, building and serialising every result message), deliver = no-op;
//   SQL       the node-log page query alone, and the count alone;
//   IQ        (unless --no-xmpp) the full round trip: bob's client -> Prosody -> mod_delegation -> ingress ->
//             NATS -> mam worker -> Postgres -> N privileged result messages (each acknowledged) -> fin,
//             timed at the client from sending the IQ to receiving its result (all messages before it),
//             with the mam worker's own mean time per request (its request-duration histogram: page query,
//             building, and every result acknowledged by the ingress) to show where the time goes.
//
// Options (CLI flag, or env):
//   --events N     BENCH_MAM_EVENTS   events in the bench node (default 100000)
//   --page P       BENCH_MAM_PAGE     RSM <max/> of every query (default 50)
//   --reps R       BENCH_MAM_REPS     repetitions per page kind and level (default 30)
//   --no-xmpp      BENCH_MAM_XMPP=0   skip the IQ round trips (no Prosody, NATS or services needed)
//   --explain      BENCH_MAM_EXPLAIN=1 print the query plans of the middle page and of the count
//   --prosody-nodelay BENCH_PROSODY_NODELAY=1 network_settings.nagle = false in Prosody (its c2s writes of
//                  many small result messages otherwise wait on the client's delayed ACKs)
//   --send-window W BENCH_MAM_SEND_WINDOW  MAM_SEND_WINDOW of the mam worker (default: the worker's, 16)
//   --json         BENCH_JSON=1       also print the results as JSON
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import xml, { type Element } from '@xmpp/xml';
import { createMamIqHandler, type MamIqHandler } from '@dbroker/mam';
import { createPgNodeLog, createPgPubsubStorage, decideNodeRead, type NodeLogReader } from '@dbroker/pubsub';
import { parseXml } from '@dbroker/protocol';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../harness/postgres';
import { startProsody, type ProsodyHandle } from '../harness/prosody';
import { startBrokerStack, type BrokerStack } from '../harness/stack';
import { connectClient, closeAll, iq, type Client } from '../harness/xmpp-client';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const OWNER = 'alice@localhost';
const NODE = 'urn:xmpp:bench:mam';
const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const NOISE_NODES = 99;

function boundedInt(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}] (got ${raw})`);
  return n;
}

const { values } = parseArgs({
  options: { events: { type: 'string' }, page: { type: 'string' }, reps: { type: 'string' }, 'no-xmpp': { type: 'boolean' }, explain: { type: 'boolean' }, 'prosody-nodelay': { type: 'boolean' }, 'send-window': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  strict: true,
});
if (values.help) {
  console.log('usage: npm run bench:mam -- [--events N] [--page P] [--reps R] [--no-xmpp] [--explain] [--prosody-nodelay] [--send-window W] [--json]');
  process.exit(0);
}
const env = process.env;
const opts = {
  events: boundedInt('--events', values.events ?? env.BENCH_MAM_EVENTS, 100_000, 1_000, 10_000_000),
  page: boundedInt('--page', values.page ?? env.BENCH_MAM_PAGE, 50, 1, 250),
  reps: boundedInt('--reps', values.reps ?? env.BENCH_MAM_REPS, 30, 1, 10_000),
  xmpp: !(values['no-xmpp'] ?? env.BENCH_MAM_XMPP === '0'),
  explain: values.explain ?? env.BENCH_MAM_EXPLAIN === '1',
  prosodyNoDelay: values['prosody-nodelay'] ?? env.BENCH_PROSODY_NODELAY === '1',
  sendWindow: (() => {
    const raw = values['send-window'] ?? env.BENCH_MAM_SEND_WINDOW;
    return raw === undefined ? undefined : boundedInt('--send-window', raw, 16, 1, 256);
  })(),
  json: values.json ?? env.BENCH_JSON === '1',
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95) };
};

async function seed(sql: import('pg').Pool, n: number): Promise<number> {
  const t0 = Date.now();
  const { rows } = await sql.query<{ id: string }>(`insert into pubsub_nodes (service, node, config) values ($1, $2, '{"access_model":"open","max_items":"max"}') returning id`, [OWNER, NODE]);
  const nodeId = Number(rows[0]!.id);
  const noise = await sql.query<{ id: string }>(`insert into pubsub_nodes (service, node, config) select 'user' || g || '@localhost', 'urn:xmpp:noise', '{}' from generate_series(1, ${NOISE_NODES}) g returning id`);
  const noiseIds = noise.rows.map((r) => Number(r.id));
  // 2N rows: even g -> the bench node (its k-th event is g/2), odd g -> a noise node; one event a second
  await sql.query(
    `insert into pubsub_node_events (node_id, kind, item_id, payload, publisher, at)
     select case when g % 2 = 0 then $1::bigint else ($2::bigint[])[1 + (g / 2) % ${NOISE_NODES}] end,
            case when g % 20 = 19 then 'retract' else 'publish' end,
            'item-' || (g / 2),
            case when g % 20 = 19 then null else '<entry xmlns=''http://www.w3.org/2005/Atom''><title>post ' || (g / 2) || '</title><content>' || repeat('lorem ipsum ', 12) || '</content></entry>' end,
            $3 || case when g % 2 = 0 then '/desk' else '' end,
            now() - interval '1 second' * (${2 * n} - g)
       from generate_series(1, ${2 * n}) g`,
    [nodeId, noiseIds, OWNER],
  );
  await sql.query('vacuum analyze pubsub_node_events');
  console.error(`[bench] seeded ${n} events on ${OWNER} ${NODE} (+${n} on ${NOISE_NODES} other nodes) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return nodeId;
}

interface PageKind {
  name: string;
  rsm: Record<string, string>;
  form?: Record<string, string>;
}

function mamIq(kind: PageKind, page: number, queryid: string): Element {
  const children: Element[] = [];
  if (kind.form) {
    children.push(xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)),
      ...Object.entries(kind.form).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v)))));
  }
  children.push(xml('set', { xmlns: RSM }, xml('max', {}, String(page)), ...Object.entries(kind.rsm).map(([k, v]) => xml(k, {}, v))));
  return xml('iq', { type: 'set', to: OWNER }, xml('query', { xmlns: MAM, node: NODE, queryid }, ...children));
}

async function main() {
  let temp: TempDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  let sql: import('pg').Pool | undefined;
  let prosody: ProsodyHandle | undefined;
  let stack: BrokerStack | undefined;
  let bob: Client | undefined;
  try {
    temp = await createTempDatabase('dbroker_mambench');
    handle = await createDatabase({ url: temp.url, poolMax: 4 });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    sql = new pg.Pool({ connectionString: temp.url, max: 2 });
    const nodeId = await seed(sql, opts.events);
    const seqAt = async (k: number) => String((await sql!.query<{ seq: string }>('select seq from pubsub_node_events where node_id = $1 order by node_id, seq offset $2 limit 1', [nodeId, k])).rows[0]!.seq);
    const atOf = async (seq: string) => (await sql!.query<{ at: Date }>('select at from pubsub_node_events where seq = $1', [seq])).rows[0]!.at;
    const n = opts.events;
    const [s1k, s50k, s99k] = await Promise.all([seqAt(Math.floor(n * 0.01)), seqAt(Math.floor(n / 2)), seqAt(Math.floor(n * 0.99))]);
    const windowStart = await atOf(await seqAt(Math.floor(n * 0.6)));
    const windowEnd = new Date(windowStart.getTime() + 2 * 3_600_000); // two hours: ~3,600 of the node's events
    const kinds: PageKind[] = [
      { name: 'first page', rsm: {} },
      { name: 'after, 1% deep', rsm: { after: s1k } },
      { name: 'after, 50% deep (middle)', rsm: { after: s50k } },
      { name: 'after, 99% deep', rsm: { after: s99k } },
      { name: 'last page (empty before)', rsm: { before: '' } },
      { name: 'before, 50% deep', rsm: { before: s50k } },
      { name: 'time window (2 h at 60%)', rsm: {}, form: { start: windowStart.toISOString(), end: windowEnd.toISOString() } },
      { name: 'time window, next page', rsm: { after: await seqAt(Math.floor(n * 0.6) + 2 * opts.page) }, form: { start: windowStart.toISOString(), end: windowEnd.toISOString() } },
    ];

    // ---- handler and SQL level ------------------------------------------------------------------------
    const log: NodeLogReader = createPgNodeLog(handle.db);
    const storage = createPgPubsubStorage(handle.db);
    const handler = (countMax: number | undefined): MamIqHandler =>
      createMamIqHandler({
        findNode: (s, nd) => storage.getNode(s, nd),
        mayRead: (node, actor) => decideNodeRead(node, actor),
        log,
        pageSize: { default: opts.page, max: 250 },
        countMax,
      });
    // the worker's default (MAM_COUNT_MAX 10,000: a 100k archive is then answered without <count/>),
    // an unbounded count, and none
    const byDefault = handler(10_000);
    const withCount = handler(undefined);
    const withoutCount = handler(0);
    const rows: Array<Record<string, unknown>> = [];
    for (const kind of kinds) {
      const run = async (h: MamIqHandler) => {
        const ms: number[] = [];
        let results = 0;
        let count = '-';
        for (let r = -3; r < opts.reps; r++) {
          const el = mamIq(kind, opts.page, `q${r}`);
          el.attrs.from = 'bob@localhost/bench';
          el.attrs.id = `b${r}`;
          const parsed = parseXml(el.toString());
          let delivered = 0;
          const t = performance.now();
          const reply = await h(parsed, { requestId: `r${r}`, deliver: async (m) => { m.toString(); delivered++; } });
          const dt = performance.now() - t;
          if (reply.attrs.type !== 'result') throw new Error(`${kind.name}: ${reply.toString()}`);
          if (r >= 0) ms.push(dt); // 3 warm-up runs
          results = delivered;
          count = reply.getChild('fin')?.getChild('set')?.getChildText('count') ?? '-';
        }
        return { ms, results, count };
      };
      const defaults = await run(byDefault);
      const counted = await run(withCount);
      const uncounted = await run(withoutCount);
      // the SQL alone: the page query and the count, as the handler issues them
      const filter = kind.form ? { start: new Date(kind.form.start!), end: new Date(kind.form.end!) } : {};
      const pageMs: number[] = [];
      const countMs: number[] = [];
      for (let r = 0; r < opts.reps; r++) {
        const backward = kind.rsm.before !== undefined;
        let t = performance.now();
        const page = await log.page(nodeId, {
          ...filter,
          afterSeq: kind.rsm.after ? Number(kind.rsm.after) : undefined,
          beforeSeq: kind.rsm.before ? Number(kind.rsm.before) : undefined,
          direction: backward ? 'backward' : 'forward',
          limit: opts.page,
        });
        pageMs.push(performance.now() - t);
        t = performance.now();
        await log.count(nodeId, filter, { precedingSeq: page.entries[0]?.seq });
        countMs.push(performance.now() - t);
      }
      rows.push({
        kind: kind.name,
        results: defaults.results,
        count: defaults.count,
        handler: stats(defaults.ms),
        handlerFullCount: stats(counted.ms),
        handlerNoCount: stats(uncounted.ms),
        sqlPage: stats(pageMs),
        sqlCount: stats(countMs),
      });
      console.error(`[bench] ${kind.name}: handler p50 ${stats(defaults.ms).p50.toFixed(2)} ms`);
    }

    if (opts.explain) {
      const plan = async (label: string, text: string, params: unknown[]) => {
        const res = await sql!.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${text}`, params);
        console.log(`\n-- ${label}\n${res.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
      };
      await plan('middle page (after, 50% deep)', 'select seq, kind, item_id, payload, publisher, at from pubsub_node_events where node_id = $1 and seq > $2 order by node_id, seq limit $3', [nodeId, s50k, opts.page + 1]);
      await plan('count with the index of the first entry', 'select count(*)::int, (count(*) filter (where seq < $2))::int from pubsub_node_events where node_id = $1', [nodeId, s50k]);
      await plan(
        'time window page, as the plain keyset query would run (the planner walks (node_id, seq) from the start)',
        'select seq from pubsub_node_events where node_id = $1 and at >= $2 and at <= $3 order by node_id, seq limit $4',
        [nodeId, windowStart, windowEnd, opts.page + 1],
      );
      await plan(
        'time window page, as createPgNodeLog runs it for a window of at most WINDOW_PATH_MAX entries',
        'select seq, kind, item_id, payload, publisher, at from pubsub_node_events where seq in (with w as materialized (select seq from pubsub_node_events where node_id = $1 and at >= $2 and at <= $3) select seq from w order by seq asc limit $4) order by seq',
        [nodeId, windowStart, windowEnd, opts.page + 1],
      );
    }

    // ---- full IQ round trip through Prosody ------------------------------------------------------------
    if (opts.xmpp) {
      prosody = await startProsody({ users: [{ user: 'alice', password: 'pw' }, { user: 'bob', password: 'pw' }], logLevel: 'warn', nagle: !opts.prosodyNoDelay });
      stack = await startBrokerStack({
        prosody,
        mode: 'separate',
        databaseUrl: temp.url,
        requestTimeoutMs: 10_000,
        ...(opts.sendWindow === undefined ? {} : { serviceEnv: { mam: { MAM_SEND_WINDOW: String(opts.sendWindow) } } }),
      });
      bob = await connectClient({ port: prosody.c2sPort, user: 'bob', password: 'pw' });
      const client = bob;
      let counter = 0;
      const roundTrip = async (kind: PageKind) => {
        const queryid = `x${++counter}`;
        let messages = 0;
        const onStanza = (el: Element) => {
          if (el.name === 'message' && el.getChild('result', MAM)?.attrs.queryid === queryid) messages++;
        };
        client.on('stanza', onStanza);
        try {
          const t = performance.now();
          await iq(client, mamIq(kind, opts.page, queryid), 15_000);
          return { ms: performance.now() - t, messages };
        } finally {
          client.removeListener('stanza', onStanza);
        }
      };
      // the grant and the privilege advertisement arrive just after the component connects
      for (let tries = 0; ; tries++) {
        try {
          await roundTrip(kinds[0]!);
          break;
        } catch (err) {
          if (tries > 50) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const workerTime = async () => {
        const text = await (await fetch(`http://127.0.0.1:${stack!.httpPorts.mam}/metrics`)).text();
        const pick = (what: string) => Number(new RegExp(`dbroker_worker_request_duration_seconds_${what}\\{[^}]*kind="mam",outcome="replied"\\} ([0-9.e+-]+)`).exec(text)?.[1] ?? 0);
        return { sum: pick('sum'), count: pick('count') };
      };
      for (const [i, kind] of kinds.entries()) {
        const ms: number[] = [];
        let messages = 0;
        const w0 = await workerTime();
        for (let r = -2; r < opts.reps; r++) {
          const res = await roundTrip(kind);
          if (r >= 0) ms.push(res.ms);
          messages = res.messages;
        }
        const w1 = await workerTime();
        rows[i]!.iq = stats(ms);
        rows[i]!.iqMessages = messages;
        rows[i]!.workerMeanMs = ((w1.sum - w0.sum) / Math.max(1, w1.count - w0.count)) * 1000;
        console.error(`[bench] ${kind.name}: IQ round trip p50 ${stats(ms).p50.toFixed(2)} ms`);
      }
    }

    // ---- report ---------------------------------------------------------------------------------------------
    const f = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(2) : '-');
    const p = (s: unknown, k: 'p50' | 'p95') => f((s as { p50: number; p95: number } | undefined)?.[k]);
    console.log(`\nMAM on one PEP node: ${opts.events} events in the node (+${opts.events} elsewhere), page of ${opts.page}, ${opts.reps} repetitions, times in ms${opts.xmpp ? `, Prosody nagle ${opts.prosodyNoDelay ? 'off' : 'on'}, MAM_SEND_WINDOW ${opts.sendWindow ?? 16}` : ''}`);
    console.log('handler: MAM_COUNT_MAX 10000 (default; <count/> given when the set is smaller) | full count: unbounded | no count: MAM_COUNT_MAX 0');
    const header = ['page kind', 'results', 'count', 'handler p50', 'p95', 'full-count p50', 'no-count p50', 'SQL page p50', 'SQL full count p50', ...(opts.xmpp ? ['IQ p50', 'IQ p95', 'worker mean'] : [])];
    const table = rows.map((r) => [
      String(r.kind), String(r.results), String(r.count), p(r.handler, 'p50'), p(r.handler, 'p95'), p(r.handlerFullCount, 'p50'), p(r.handlerNoCount, 'p50'), p(r.sqlPage, 'p50'), p(r.sqlCount, 'p50'),
      ...(opts.xmpp ? [p(r.iq, 'p50'), p(r.iq, 'p95'), f(r.workerMeanMs)] : []),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(line(header));
    for (const t of table) console.log(line(t));
    if (opts.json) console.log(JSON.stringify({ options: opts, rows }, null, 2));
  } finally {
    if (bob) await closeAll([bob]);
    await stack?.stop();
    await prosody?.stop();
    await sql?.end();
    await handle?.close();
    await temp?.drop();
  }
}

await main();
