// Our services as real child processes, wired to a Prosody from ./prosody, a NATS and a Postgres.
//
// Environment contract (what every service entry point is started with, on top of the caller's env):
//   all services      LOG_LEVEL, HTTP_HOST=127.0.0.1, HTTP_PORT=<free port>, NATS_URL, DATABASE_URL,
//                     OTEL_SERVICE_NAME=dbroker-<name>, and either the OTLP/HTTP JSON variables of
//                     otlp-collector.ts#otlpEnv (when `otlpUrl` is given) or OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none
//   ingress, all-in-one  XMPP_SERVICE=xmpp://127.0.0.1:<componentPort>, XMPP_DOMAIN=<componentJid>,
//                     XMPP_SECRET, XMPP_SERVER=<prosody domain>, REQUEST_TIMEOUT_MS
//   pep, mam, all-in-one  WORKER_CONCURRENCY (only when `workerConcurrency` is given)
// Entry points: services/<name>/src/main.ts, run as `node --import tsx <entry>` from the repo root, so
// each PID is the service's node process itself. Ready = GET /readyz answers 200 on every service.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { otlpEnv } from './otlp-collector';
import { trackChild, untrackChild } from './children';
import { freePort } from './ports';
import { startNatsServer, type NatsServerHandle } from './nats-server';
import { createTempDatabase, type TempDatabase } from './postgres';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type StackMode = 'all-in-one' | 'separate';
export type ServiceName = 'all-in-one' | 'ingress' | 'pep' | 'pep-2' | 'mam' | 'projector';

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const READY_POLL_MS = 100;
const LOG_TAIL_LINES = 40;

export interface XmppServerCoordinates {
  componentPort: number;
  componentJid: string;
  secret: string;
  /** The XMPP server's domain (XMPP_SERVER), e.g. 'localhost'. */
  domain: string;
}

export interface BrokerStackOptions {
  /** Where the component connects: a ProsodyHandle fits. */
  prosody: XmppServerCoordinates;
  mode?: StackMode;
  /** Use this NATS; default: start a throw-away nats-server (stopped with the stack). */
  natsUrl?: string;
  /** Use this database; default: create a temporary one (dropped with the stack). */
  databaseUrl?: string;
  workerConcurrency?: number;
  requestTimeoutMs?: number;
  /** LOG_LEVEL of the services. Default 'warn'. */
  logLevel?: string;
  /** OTLP/HTTP JSON endpoint (an OtlpCollector url); default: tracing exporters off. */
  otlpUrl?: string;
  /** Extra env for every service (wins over the defaults above). */
  env?: Record<string, string>;
  /** Extra env for one service (wins over `env`). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  readyTimeoutMs?: number;
  /** PEP worker replicas in separate mode: 1 (default) or 2 (the second is service `pep-2`). */
  pepReplicas?: 1 | 2;
  /** Run `libs/store/src/cli/migrate.ts` before starting (services also migrate at start-up). Default false. */
  migrate?: boolean;
  /** Replace a service's entry point (same env contract), e.g. INSTANT_PEP_FIXTURE for 'all-in-one'. */
  entryPoints?: Partial<Record<ServiceName, string>>;
}

export interface BrokerStack {
  mode: StackMode;
  /** Services in start order. */
  names: ServiceName[];
  /** The service holding the XMPP component connection ('all-in-one' or 'ingress'). */
  ingress: ServiceName;
  pids: Partial<Record<ServiceName, number>>;
  httpPorts: Partial<Record<ServiceName, number>>;
  /** The contract variables each service was started with (process.env not included). */
  env: Partial<Record<ServiceName, Record<string, string>>>;
  natsUrl: string;
  databaseUrl: string;
  natsPid: number | undefined;
  logDir: string;
  /** Signals one service; for SIGTERM/SIGKILL waits (bounded) until it has exited. */
  kill(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped service again with the same env and port, and waits for its /readyz. */
  restart(name: ServiceName): Promise<void>;
  /** The service's stdout+stderr so far. */
  logs(name: ServiceName): Promise<string>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export class StackStartError extends Error {
  override readonly name = 'StackStartError';
  constructor(message: string, readonly service: ServiceName | undefined, readonly logTail: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `pep-2` is a second replica of the PEP worker (same code, same queue group). */
export const defaultEntryPoint = (name: ServiceName): string => join(REPO_ROOT, 'services', name === 'pep-2' ? 'pep' : name, 'src', 'main.ts');
/** An in-memory, answer-at-once stand-in for the broker with the same process contract. */
export const INSTANT_PEP_FIXTURE = join(REPO_ROOT, 'test', 'harness', 'fixtures', 'instant-pep-component.ts');

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  done: boolean;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function isReady(port: number): Promise<boolean> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 1_000);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: ctl.signal });
    await res.arrayBuffer().catch(() => undefined);
    return res.status === 200;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function tail(path: string, lines = LOG_TAIL_LINES): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

export async function startBrokerStack(opts: BrokerStackOptions): Promise<BrokerStack> {
  const mode = opts.mode ?? 'all-in-one';
  const names: ServiceName[] = mode === 'all-in-one' ? ['all-in-one'] : ['projector', 'pep', ...(opts.pepReplicas === 2 ? (['pep-2'] as const) : []), 'mam', 'ingress'];
  const ingress: ServiceName = mode === 'all-in-one' ? 'all-in-one' : 'ingress';
  const entryPoint = (name: ServiceName): string => opts.entryPoints?.[name] ?? defaultEntryPoint(name);
  const missing = names.filter((n) => !existsSync(entryPoint(n)));
  if (missing.length > 0) {
    throw new StackStartError(`broker stack not available: missing entry point(s) ${missing.map(entryPoint).join(', ')}`, missing[0], '');
  }

  const logDir = await mkdtemp(join(tmpdir(), 'dbroker-stack-'));
  let nats: NatsServerHandle | undefined;
  let db: TempDatabase | undefined;
  const running = new Map<ServiceName, Running>();
  const pids: Partial<Record<ServiceName, number>> = {};
  const httpPorts: Partial<Record<ServiceName, number>> = {};
  const env: Partial<Record<ServiceName, Record<string, string>>> = {};
  const logPath = (name: ServiceName) => join(logDir, `${name}.log`);

  const baseEnv = (): Record<string, string> => {
    const inherited: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined || k === 'NODE_TEST_CONTEXT' || k.startsWith('OTEL_')) continue;
      inherited[k] = v;
    }
    return inherited;
  };

  const spawnService = (name: ServiceName): Running => {
    const fd = openSync(logPath(name), 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', entryPoint(name)], {
        cwd: REPO_ROOT,
        env: { ...baseEnv(), ...env[name] },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const r: Running = { child, done: false, exited: Promise.resolve() };
    trackChild(child.pid);
    r.exited = new Promise<void>((resolve) => child.once('exit', () => { r.done = true; untrackChild(child.pid); resolve(); }));
    child.once('error', () => { r.done = true; });
    running.set(name, r);
    pids[name] = child.pid;
    return r;
  };

  const stopOne = async (name: ServiceName, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const r = running.get(name);
    if (!r || r.done || !r.child.pid) return;
    signal(r.child.pid, sig);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([r.exited, new Promise((res) => { timer = setTimeout(res, STOP_GRACE_MS); })]);
    clearTimeout(timer);
    if (!r.done) {
      signal(r.child.pid, 'SIGKILL');
      await r.exited;
    }
  };

  const waitReady = async (which: ServiceName[], timeoutMs: number): Promise<void> => {
    const until = Date.now() + timeoutMs;
    const pending = new Set(which);
    while (pending.size > 0) {
      for (const name of [...pending]) {
        const r = running.get(name)!;
        if (r.done) {
          throw new StackStartError(`service ${name} exited during start-up (code ${r.child.exitCode}, signal ${r.child.signalCode})`, name, await tail(logPath(name)));
        }
        if (await isReady(httpPorts[name]!)) pending.delete(name);
      }
      if (pending.size === 0) break;
      if (Date.now() > until) {
        const name = [...pending][0]!;
        throw new StackStartError(`service(s) ${[...pending].join(', ')} not ready (GET /readyz != 200) within ${timeoutMs} ms`, name, await tail(logPath(name)));
      }
      await sleep(READY_POLL_MS);
    }
  };

  const stop = async (): Promise<void> => {
    for (const name of [...names].reverse()) await stopOne(name); // XMPP edge first, then workers, then projector
    await nats?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    if (process.env.KEEP_TMP === '1') console.error(`[stack] kept logs in ${logDir}`);
    else await rm(logDir, { recursive: true, force: true });
  };

  try {
    nats = opts.natsUrl ? undefined : await startNatsServer();
    db = opts.databaseUrl ? undefined : await createTempDatabase('dbroker_stack');
    const natsUrl = opts.natsUrl ?? nats!.url;
    const databaseUrl = opts.databaseUrl ?? db!.url;

    if (opts.migrate) {
      const migrator = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'libs/store/src/cli/migrate.ts')], {
        cwd: REPO_ROOT, env: { ...baseEnv(), DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      migrator.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      migrator.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => migrator.kill('SIGKILL'), 60_000);
        migrator.once('exit', (c) => { clearTimeout(timer); resolve(c); });
        migrator.once('error', () => { clearTimeout(timer); resolve(-1); });
      });
      if (code !== 0) throw new StackStartError(`migrations failed (exit ${code})`, undefined, out.split('\n').slice(-LOG_TAIL_LINES).join('\n'));
    }

    const telemetry = opts.otlpUrl
      ? otlpEnv(opts.otlpUrl)
      : { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
    const xmppEnv = {
      XMPP_SERVICE: `xmpp://127.0.0.1:${opts.prosody.componentPort}`,
      XMPP_DOMAIN: opts.prosody.componentJid,
      XMPP_SECRET: opts.prosody.secret,
      XMPP_SERVER: opts.prosody.domain,
      REQUEST_TIMEOUT_MS: String(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    };
    for (const name of names) {
      const port = await freePort();
      httpPorts[name] = port;
      env[name] = {
        LOG_LEVEL: opts.logLevel ?? 'warn',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        NATS_URL: natsUrl,
        DATABASE_URL: databaseUrl,
        OTEL_SERVICE_NAME: `dbroker-${name}`,
        ...telemetry,
        ...(name === 'ingress' || name === 'all-in-one' ? xmppEnv : {}),
        ...((name === 'pep' || name === 'pep-2' || name === 'mam' || name === 'all-in-one') && opts.workerConcurrency !== undefined ? { WORKER_CONCURRENCY: String(opts.workerConcurrency) } : {}),
        ...opts.env,
        ...opts.serviceEnv?.[name],
      };
    }
    if (new Set(Object.values(httpPorts)).size !== names.length) throw new StackStartError('freePort returned a duplicate port', undefined, '');

    // Backends first, the XMPP edge last (as main.ts orders its own start): Prosody asks the component for
    // the workers' disco-nesting features once, when it first connects, and keeps the answer (mod_delegation
    // never asks again while it runs), so the workers must answer on their features subjects by then.
    const backends = names.filter((n) => n !== ingress);
    for (const name of backends) spawnService(name);
    await waitReady(backends, opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    spawnService(ingress);
    await waitReady([ingress], opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);

    return {
      mode, names, ingress, pids, httpPorts, env, natsUrl, databaseUrl, natsPid: nats?.pid, logDir,
      kill: async (name, sig = 'SIGKILL') => {
        const r = running.get(name);
        if (!r || r.done || !r.child.pid) return;
        if (sig === 'SIGKILL' || sig === 'SIGTERM') await stopOne(name, sig);
        else signal(r.child.pid, sig);
      },
      restart: async (name) => {
        const r = running.get(name);
        if (r && !r.done) throw new Error(`service ${name} is still running`);
        spawnService(name);
        await waitReady([name], opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      },
      logs: (name) => readFile(logPath(name), 'utf8').catch(() => ''),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop(); // the error carries the log tail; KEEP_TMP=1 keeps the whole logs
    if (err instanceof StackStartError) throw err;
    throw new StackStartError(`broker stack failed to start: ${(err as Error).message}`, undefined, '', { cause: err });
  }
}
