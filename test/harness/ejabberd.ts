// A throw-away ejabberd 23.01 (Debian `ejabberd`, Erlang/OTP 25) on loopback, configured for XEP-0355
// delegation and XEP-0356 privileges towards one external component, from deploy/ejabberd/ejabberd.yml.
//
// How it runs (checked against /usr/sbin/ejabberdctl 23.01 and by running it here):
// - `ejabberdctl --config-dir DIR --logs DIR/log --spool DIR/spool foreground`, started directly as the
//   `ejabberd` user (spawn uid/gid): as root, ejabberdctl would go through `su`, which puts the Erlang VM in a
//   session of its own where neither its PID nor its process group is ours. Started this way, the process
//   group (detached: true) holds bash -> beam.smp -> helpers, and one signal to the group stops all of it.
// - DIR/ejabberdctl.cfg sets ERL_DIST_PORT: ejabberdctl then passes `-erl_epmd_port P -start_epmd false` to
//   the server and `-dist_listen false` to its command nodes, so no epmd is started or used (the machine may run
//   one for something else) and the distribution port is a free loopback port. Own node name and cookie too.
// - Users and roster items go through mod_http_api on a loopback listener (`register`, `add_rosteritem`):
//   ~15 ms per call, where `ejabberdctl register` boots an Erlang VM (~0.35 s per call on this machine).
// - The broker part of the config is deploy/ejabberd/ejabberd.yml itself (its placeholders replaced), pulled in
//   with `include_config_file`, so the example an admin copies is the one the tests run.
// - ejabberd stops on SIGTERM in ~3 s (mnesia shutdown); the harness waits up to STOP_GRACE_MS, then SIGKILLs.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { trackChild, untrackChild } from './children';
import { freePort, waitForPort } from './ports';

const execFileAsync = promisify(execFile);

/** Debian installs it in /usr/sbin, which a non-login PATH may lack. */
export const EJABBERDCTL_BIN = process.env.EJABBERDCTL_BIN ?? (existsSync('/usr/sbin/ejabberdctl') ? '/usr/sbin/ejabberdctl' : 'ejabberdctl');
export const EJABBERD_USER = process.env.EJABBERD_USER ?? 'ejabberd';
export const DEFAULT_COMPONENT_JID = 'pubsub.localhost';
export const EXAMPLE_CONFIG_PATH = fileURLToPath(new URL('../../deploy/ejabberd/ejabberd.yml', import.meta.url));
const STOP_GRACE_MS = 6_000;
const START_TIMEOUT_MS = 20_000;
const API_CONCURRENCY = 4;
const API_TIMEOUT_MS = 10_000;

export interface EjabberdUser {
  user: string;
  password: string;
  /** Defaults to `localhost`. */
  host?: string;
}

/** One contact in a user's roster; the same shape as the Prosody harness's ProsodyRosterItem. */
export interface RosterItem {
  /** Bare JID of the contact. */
  jid: string;
  /** Default 'none'. */
  subscription?: 'none' | 'to' | 'from' | 'both';
  name?: string;
  /** ejabberd 23.01's add_rosteritem takes one group: the first is used. */
  groups?: string[];
}

export interface EjabberdOptions {
  componentJid?: string;
  componentSecret?: string;
  /** Keep mod_delegation of the example config. Default true. */
  delegations?: boolean;
  /** Keep mod_privilege of the example config. Default true. */
  privileges?: boolean;
  /** Include the example config at all (component listener, ACL, delegation, privileges). Default true. */
  broker?: boolean;
  /** Load ejabberd's own mod_pubsub with the PEP plugin (the benchmark's baseline; use with broker: false). */
  pep?: boolean;
  users?: EjabberdUser[];
  /** Rosters of users of `localhost`, by username, written once the accounts exist (mod_admin_extra `add_rosteritem`). */
  rosters?: Record<string, RosterItem[]>;
  /** ejabberd loglevel. Default 'info' (tests read the log); benchmarks want 'warning'. */
  logLevel?: 'debug' | 'info' | 'warning' | 'error';
}

export interface EjabberdHandle {
  c2sPort: number;
  componentPort: number;
  /** mod_http_api on loopback (register, add_rosteritem, ...). */
  httpPort: number;
  domain: 'localhost';
  componentJid: string;
  secret: string;
  dir: string;
  configPath: string;
  nodeName: string;
  /** PID of the process group leader (ejabberdctl's bash; beam.smp is its child). */
  pid: number;
  /** PID of beam.smp (the server itself), for CPU accounting. */
  beamPid: number | undefined;
  logPath: string;
  register(user: string, password: string, host?: string): Promise<void>;
  /** Adds (or replaces) one item in `user`'s roster on `localhost`. */
  addRosterItem(user: string, item: RosterItem): Promise<void>;
  /** Calls one mod_http_api command; resolves with the decoded JSON answer. */
  api(command: string, args: Record<string, unknown>): Promise<unknown>;
  /** Runs `ejabberdctl <args>` against this node (as the ejabberd user); resolves with stdout. */
  ctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface EjabberdConfigParams {
  domain: string;
  c2sPort: number;
  httpPort: number;
  logLevel: string;
  pep: boolean;
  /** Path of the broker fragment to include (omitted: no broker part). */
  includePath?: string;
}

const q = (s: string): string => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar

/** Pure: the harness's own part of ejabberd.yml (everything the example fragment does not bring). */
export function ejabberdBaseConfig(p: EjabberdConfigParams): string {
  const lines = [
    `hosts: [${q(p.domain)}]`,
    `loglevel: ${p.logLevel}`,
    'log_rotate_count: 0',
    'auth_method: internal',
    'auth_password_format: plain',
    'acme: {auto: false}',
    'listen:',
    `  - {port: ${p.c2sPort}, ip: "127.0.0.1", module: ejabberd_c2s, starttls: false, starttls_required: false, access: c2s, max_stanza_size: 262144}`,
    `  - {port: ${p.httpPort}, ip: "127.0.0.1", module: ejabberd_http, request_handlers: {/api: mod_http_api}}`,
    'acl: {harness_loopback: {ip: ["127.0.0.0/8"]}}',
    'access_rules: {c2s: {allow: all}}',
    'api_permissions:',
    '  "console commands": {from: [ejabberd_ctl], who: all, what: "*"}',
    '  "harness": {from: [mod_http_api], who: {acl: harness_loopback}, what: ["register", "unregister", "add_rosteritem", "delete_rosteritem", "get_roster", "status"]}',
    'modules:',
    '  mod_disco: {}',
    '  mod_roster: {}',
    '  mod_ping: {}',
    '  mod_admin_extra: {}',
  ];
  if (p.pep) lines.push('  mod_caps: {}', '  mod_pubsub: {plugins: [flat, pep], host: "pubsub-own.@HOST@"}');
  if (p.includePath) lines.push(`include_config_file: ${q(p.includePath)}`);
  return `${lines.join('\n')}\n`;
}

export interface ExampleSubstitution {
  domain: string;
  componentJid: string;
  componentPort: number;
  secret: string;
  delegations: boolean;
  privileges: boolean;
}

/** Drops one `  mod_x:` block (and its deeper-indented lines) from the example's `modules:` section. */
function dropModule(text: string, module: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === `  ${module}:`);
  if (start < 0) throw new Error(`example config: no "  ${module}:" block`);
  let end = start + 1;
  while (end < lines.length && (lines[end]!.startsWith('    ') || lines[end]!.trim() === '')) end++;
  return [...lines.slice(0, start), ...lines.slice(end)].join('\n');
}

/**
 * Pure: deploy/ejabberd/ejabberd.yml with its placeholders (example.org, pubsub.example.org, port 5347,
 * "change-me") replaced. Throws when a placeholder is missing, so an edit of the example that the harness
 * does not understand fails the tests instead of silently testing something else.
 */
export function substituteExample(example: string, s: ExampleSubstitution): string {
  const replaceAll = (text: string, from: RegExp, to: string, what: string): string => {
    if (!from.test(text)) throw new Error(`example config: placeholder ${what} not found`);
    return text.replace(new RegExp(from.source, `${from.flags}g`), to);
  };
  let text = example;
  text = replaceAll(text, /pubsub\.example\.org/, s.componentJid, 'pubsub.example.org');
  text = replaceAll(text, /\bexample\.org\b/, s.domain, 'example.org');
  text = replaceAll(text, /^(\s*port:\s*)5347$/m, `$1${s.componentPort}`, 'port: 5347');
  text = replaceAll(text, /password: "change-me"/, `password: ${q(s.secret)}`, 'password: "change-me"');
  if (!s.delegations) text = dropModule(text, 'mod_delegation');
  if (!s.privileges) text = dropModule(text, 'mod_privilege');
  return text;
}

function lookupUser(name: string): { uid: number; gid: number; home: string } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    if (!line) return undefined;
    const f = line.split(':');
    return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
  } catch {
    return undefined;
  }
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

/** os.tmpdir() when the ejabberd user can reach it (every ancestor searchable by others), else /tmp. */
function tmpBase(switchingUser: boolean): string {
  const base = tmpdir();
  if (!switchingUser) return base;
  let p = base;
  for (;;) {
    try {
      if ((statSync(p).mode & 0o001) === 0) return '/tmp';
    } catch {
      return '/tmp';
    }
    const parent = dirname(p);
    if (parent === p) return base;
    p = parent;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function findBeam(parent: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const c of children) {
      const comm = readFileSync(`/proc/${c}/comm`, 'utf8').trim();
      if (comm.startsWith('beam')) return c;
    }
  } catch {
    // not there (yet)
  }
  return undefined;
}

let instanceCounter = 0;

export async function startEjabberd(opts: EjabberdOptions = {}): Promise<EjabberdHandle> {
  const runAs = lookupUser(EJABBERD_USER);
  const me = process.getuid?.() ?? -1;
  if (!runAs) throw new Error(`startEjabberd: no system user ${EJABBERD_USER} (apt-get install ejabberd)`);
  if (me !== 0 && me !== runAs.uid) throw new Error(`startEjabberd: must run as root or as ${EJABBERD_USER} (ejabberdctl refuses other users)`);

  const domain = 'localhost' as const;
  const componentJid = opts.componentJid ?? DEFAULT_COMPONENT_JID;
  const secret = opts.componentSecret ?? `s3cret-${randomUUID().slice(0, 8)}`;
  const broker = opts.broker ?? true;
  const dir = await mkdtemp(join(tmpBase(me === 0), 'dbroker-ejabberd-'));
  const logDir = join(dir, 'log');
  const spoolDir = join(dir, 'spool');
  await Promise.all([mkdir(logDir), mkdir(spoolDir), mkdir(join(dir, 'home'))]);

  const ports = new Set<number>();
  const nextPort = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!ports.has(p)) {
        ports.add(p);
        return p;
      }
    }
  };
  const [c2sPort, componentPort, httpPort, distPort] = [await nextPort(), await nextPort(), await nextPort(), await nextPort()];
  const nodeName = `dbtest-${process.pid}-${++instanceCounter}@localhost`;
  const cookie = randomBytes(12).toString('hex');

  const includePath = join(dir, 'delegation-broker.yml');
  if (broker) {
    const example = await readFile(EXAMPLE_CONFIG_PATH, 'utf8');
    await writeFile(includePath, substituteExample(example, {
      domain, componentJid, componentPort, secret, delegations: opts.delegations ?? true, privileges: opts.privileges ?? true,
    }));
  }
  const configPath = join(dir, 'ejabberd.yml');
  await writeFile(configPath, ejabberdBaseConfig({
    domain, c2sPort, httpPort, logLevel: opts.logLevel ?? 'info', pep: opts.pep ?? false, ...(broker ? { includePath } : {}),
  }));
  // Sourced by ejabberdctl (bash): no spaces inside a value except the quoted ERL_OPTIONS.
  await writeFile(join(dir, 'ejabberdctl.cfg'), [
    `ERLANG_NODE=${nodeName}`,
    `ERL_DIST_PORT=${distPort}`,
    `ERL_OPTIONS="-setcookie ${cookie} -kernel inet_dist_use_interface {127,0,0,1} -env ERL_CRASH_DUMP_BYTES 0"`,
    `EJABBERD_PID_PATH=${join(dir, 'ejabberd.pid')}`,
    `CONTRIB_MODULES_PATH=${join(dir, 'modules')}`,
    `CONTRIB_MODULES_CONF_DIR=${join(dir, 'modules', 'conf')}`,
    'EJABBERD_BYPASS_WARNINGS=true',
    '',
  ].join('\n'));
  await writeFile(join(dir, 'inetrc'), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n');
  if (me === 0) await chownTree(dir, runAs.uid, runAs.gid);

  const ctlArgs = ['--config-dir', dir, '--logs', logDir, '--spool', spoolDir];
  const childEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    for (const k of ['PATH', 'LANG', 'LC_ALL', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
    return { ...env, HOME: join(dir, 'home'), USER: EJABBERD_USER, LOGNAME: EJABBERD_USER };
  };
  const asEjabberd = me === 0 ? { uid: runAs.uid, gid: runAs.gid } : {};

  const consolePath = join(dir, 'console.log');
  const consoleFd = openSync(consolePath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(EJABBERDCTL_BIN, [...ctlArgs, 'foreground'], {
      cwd: spoolDir, env: childEnv(), stdio: ['ignore', consoleFd, consoleFd], detached: true, ...asEjabberd,
    });
  } finally {
    closeSync(consoleFd);
  }
  const pgid = child.pid!;
  trackChild(pgid);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const logPath = join(logDir, 'ejabberd.log');
  let beamPid: number | undefined;

  const stop = async (): Promise<void> => {
    if (groupAlive(pgid)) {
      signalGroup(pgid, 'SIGTERM');
      const until = Date.now() + STOP_GRACE_MS;
      while (groupAlive(pgid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      if (groupAlive(pgid)) {
        signalGroup(pgid, 'SIGKILL');
        while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (!exited) await exitPromise;
    untrackChild(pgid);
    if (beamPid) untrackChild(beamPid);
    if (process.env.KEEP_TMP === '1') console.error(`[ejabberd] kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  };

  const api = async (command: string, args: Record<string, unknown>): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/${command}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`ejabberd api ${command}: HTTP ${res.status} ${text}`);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  const register = async (user: string, password: string, host = 'localhost'): Promise<void> => {
    await api('register', { user, host, password });
  };
  const addRosterItem = async (user: string, item: RosterItem): Promise<void> => {
    const at = item.jid.indexOf('@');
    if (at <= 0 || item.jid.includes('/')) throw new Error(`roster item ${item.jid}: a bare JID user@host is expected`);
    const res = await api('add_rosteritem', {
      localuser: user, localhost: domain, user: item.jid.slice(0, at), host: item.jid.slice(at + 1),
      nick: item.name ?? '', group: item.groups?.[0] ?? '', subs: item.subscription ?? 'none',
    });
    if (res !== 0) throw new Error(`ejabberd api add_rosteritem ${user} -> ${item.jid}: ${JSON.stringify(res)}`);
  };
  const ctl = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileAsync(EJABBERDCTL_BIN, [...ctlArgs, ...args], { cwd: spoolDir, env: childEnv(), timeout: 30_000, ...asEjabberd });
    return stdout;
  };

  try {
    const earlyExit = exitPromise.then(async () => {
      const out = await readFile(consolePath, 'utf8').catch(() => '');
      const log = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`ejabberd exited during startup (code ${child.exitCode})\n${out.split('\n').slice(-30).join('\n')}\n${log.split('\n').slice(-30).join('\n')}`);
    });
    await Promise.race([
      Promise.all([waitForPort(c2sPort, START_TIMEOUT_MS), waitForPort(httpPort, START_TIMEOUT_MS), ...(broker ? [waitForPort(componentPort, START_TIMEOUT_MS)] : [])]),
      earlyExit,
      spawnError,
    ]);
    earlyExit.catch(() => undefined);
    beamPid = findBeam(pgid);
    if (beamPid) trackChild(beamPid);
    // a few at a time: dozens of concurrent API calls time out on a loaded 2-core host
    const users = opts.users ?? [];
    for (let i = 0; i < users.length; i += API_CONCURRENCY) await Promise.all(users.slice(i, i + API_CONCURRENCY).map((u) => register(u.user, u.password, u.host)));
    for (const [user, items] of Object.entries(opts.rosters ?? {})) for (const item of items) await addRosterItem(user, item);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    c2sPort, componentPort, httpPort, domain, componentJid, secret, dir, configPath, nodeName, pid: pgid, beamPid, logPath,
    register, addRosterItem, api, ctl, stop, [Symbol.asyncDispose]: stop,
  };
}
