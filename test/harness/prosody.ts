// A throw-away Prosody 0.12 (Debian `prosody` + `prosody-modules`) on loopback, configured for
// XEP-0355 namespace delegation and XEP-0356 privileges towards one external component.
//
// Config facts checked against the installed sources (not only against protocol-notes §3):
// - /usr/bin/prosody takes `-F` (foreground) and `--config FILE` (util/startup.lua `parse_args`); with -F
//   the spawned PID is the server itself (the script is exec'd by lua5.4 via its shebang).
// - mod_delegation reads `delegations` with module:get_option, i.e. per host: it goes in the VirtualHost
//   (a global one would also be read by the component's and pep.localhost's instances). The component host
//   must load `delegation` too: the advertisement is triggered by its `component-authenticated` event.
//   Filtering attributes are the `filtering` list; the disco pseudo-namespaces are the literal strings
//   `urn:xmpp:delegation:2:bare:disco#info:*` / `...:disco#items:*`.
// - mod_privilege (2023-02 snapshot) reads `privileged_entities` per host, keyed by the component's bare
//   JID, values roster none|get|set|both, message none|outgoing, presence none|managed_entity|roster
//   (roster presence is silently dropped to none unless roster includes get), and `iq = { [ns] = type }`.
// - Component hosts inherit only a few global modules (core/modulemanager.lua component_inheritable_modules),
//   hence the Component's own modules_enabled; VirtualHost modules_enabled is added to the global list.
// - Accounts (internal_hashed) are Lua files data_path/<enc(host)>/accounts/<enc(user)>.dat holding
//   SCRAM-SHA-1 stored_key/server_key in hex (mod_auth_internal_hashed.lua); enc() = %xx for every
//   non-alphanumeric byte (util/datamanager.lua). Internal storage reads the file on every lookup, so
//   accounts written while the server runs are visible at once.
// - Rosters are Lua files data_path/<enc(host)>/roster/<enc(user)>.dat (core/rostermanager.lua load_roster:
//   keyval store "roster"): a table keyed by contact JID ({ subscription, name, ask, groups = { [g] = true } })
//   plus the metadata entry `[false] = { version, pending = {} }`. Unlike accounts they are cached: a
//   roster is read from disk once (on login, or on the first privileged roster get), so write it first.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, pbkdf2, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { trackChild, untrackChild } from './children';
import { freePort, waitForPort } from './ports';

const pbkdf2Async = promisify(pbkdf2);
const execFileAsync = promisify(execFile);

export const PROSODY_BIN = process.env.PROSODY_BIN ?? 'prosody';
export const PROSODYCTL_BIN = process.env.PROSODYCTL_BIN ?? 'prosodyctl';
export const DEFAULT_COMPONENT_JID = 'pubsub.localhost';
export const PEP_HOST = 'pep.localhost';
/** PBKDF2 rounds for accounts written by the harness (Prosody's default is 10000; PLAIN logins pay it). */
export const ACCOUNT_ITERATION_COUNT = 4096;
const STOP_GRACE_MS = 5_000;
const START_TIMEOUT_MS = 15_000;

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_BARE_DISCO_INFO = 'urn:xmpp:delegation:2:bare:disco#info:*';
export const NS_BARE_DISCO_ITEMS = 'urn:xmpp:delegation:2:bare:disco#items:*';

export interface ProsodyUser {
  user: string;
  password: string;
  /** Defaults to the main domain `localhost`. */
  host?: string;
}

export interface ProsodyRosterItem {
  jid: string;
  /** Default 'none'. */
  subscription?: 'none' | 'to' | 'from' | 'both';
  name?: string;
  groups?: string[];
  ask?: 'subscribe';
}

export interface ProsodyRoster {
  user: string;
  /** Defaults to the main domain `localhost`. */
  host?: string;
  items: ProsodyRosterItem[];
}

export interface ProsodyOptions {
  componentJid?: string;
  componentSecret?: string;
  /** Delegate pubsub, pubsub#owner, mam:2 (filtering node) and both bare-disco pseudo-namespaces. Default true. */
  delegations?: boolean;
  /** privileged_entities: roster get, message outgoing, presence roster. Default true. */
  privileges?: boolean;
  /** Also serve VirtualHost 'pep.localhost' with Prosody's own mod_pep (the benchmark's baseline). */
  pepHost?: boolean;
  users?: ProsodyUser[];
  /** Rosters of users of `localhost`, by username, written before the server starts (the accounts come from `users`). */
  rosters?: Record<string, ProsodyRosterItem[]>;
  /** Rosters on any host (e.g. `pep.localhost`), written before the server starts. */
  rosterList?: ProsodyRoster[];
  /** Lowest level written to prosody.log. Default 'debug' (tests read it); benchmarks want 'warn'. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** false sets network_settings.nagle = false (TCP_NODELAY on Prosody's sockets). Default: Prosody's (true). */
  nagle?: boolean;
  /** Lua appended to the global section, before the first VirtualHost. */
  extraGlobal?: string;
  /**
   * Serve `localhost` and the component from `deploy/prosody/delegation-broker.cfg.lua` as an admin would
   * (only its example names and secret replaced), instead of the harness's own VirtualHost section.
   */
  deployExample?: boolean;
}

export interface ProsodyHandle {
  c2sPort: number;
  componentPort: number;
  domain: 'localhost';
  componentJid: string;
  secret: string;
  dir: string;
  configPath: string;
  pid: number;
  logPath: string;
  /** Writes an internal_hashed account file (fast, no process); host defaults to `localhost`. */
  register(user: string, password: string, host?: string): Promise<void>;
  /** Writes a roster file; Prosody sees it only if it has not loaded that user's roster yet (see above). */
  writeRoster(user: string, items: ProsodyRosterItem[], host?: string): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const lua = (s: string): string => JSON.stringify(s); // a JSON string of printable text is a valid Lua string

export interface ProsodyConfigParams {
  dir: string;
  c2sPort: number;
  componentPort: number;
  componentJid: string;
  secret: string;
  delegations: boolean;
  privileges: boolean;
  pepHost: boolean;
  logLevel: string;
  nagle?: boolean;
  extraGlobal?: string;
  /** The deploy example's text (see ProsodyOptions.deployExample). */
  deployExample?: string;
}

export const PROSODY_DEPLOY_EXAMPLE = fileURLToPath(new URL('../../deploy/prosody/delegation-broker.cfg.lua', import.meta.url));

/** Pure: the deploy example with its example names and secret replaced; throws when one is missing. */
export function substituteProsodyExample(text: string, componentJid: string, secret: string): string {
  for (const placeholder of ['"example.org"', '"pubsub.example.org"', '"change-me"']) {
    if (!text.includes(placeholder)) throw new Error(`deploy example lacks ${placeholder}`);
  }
  return text.replaceAll('"pubsub.example.org"', lua(componentJid)).replaceAll('"example.org"', '"localhost"').replaceAll('"change-me"', lua(secret));
}

/** Pure: the Lua config text for one throw-away instance. */
export function prosodyConfig(p: ProsodyConfigParams): string {
  const c = lua(p.componentJid);
  const lines = [
    'run_as_root = true',
    `pidfile = ${lua(join(p.dir, 'prosody.pid'))}`,
    `data_path = ${lua(join(p.dir, 'data'))}`,
    `certificates = ${lua(join(p.dir, 'certs'))}`,
    'interfaces = { "127.0.0.1" }; component_interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${p.c2sPort} }; component_ports = { ${p.componentPort} }`,
    's2s_ports = { }; c2s_direct_tls_ports = { }; legacy_ssl_ports = { }; http_ports = { }; https_ports = { }',
    'plugin_paths = { "/usr/lib/prosody/modules" }',
    'modules_enabled = { "roster", "saslauth", "disco", "ping", "posix", "delegation", "privilege" }',
    'modules_disabled = { "s2s", "tls" }',
    'c2s_require_encryption = false; allow_unencrypted_plain_auth = true; allow_registration = false',
    'authentication = "internal_hashed"',
    `log = { ${p.logLevel} = ${lua(join(p.dir, 'prosody.log'))} }`,
  ];
  if (p.nagle === false) lines.push('network_settings = { nagle = false }');
  if (p.extraGlobal) lines.push(p.extraGlobal);
  if (p.deployExample !== undefined) {
    // the example's global modules_enabled replaces ours: keep what the throw-away instance needs besides it
    lines.push('', substituteProsodyExample(p.deployExample, p.componentJid, p.secret));
    return lines.join('\n');
  }
  lines.push('', 'VirtualHost "localhost"');
  if (p.delegations) {
    lines.push(
      '  delegations = {',
      `    [${lua(NS_PUBSUB)}] = { jid = ${c} };`,
      `    [${lua(NS_PUBSUB_OWNER)}] = { jid = ${c} };`,
      `    [${lua(NS_MAM)}] = { jid = ${c}; filtering = { "node" } };`,
      `    [${lua(NS_BARE_DISCO_INFO)}] = { jid = ${c} };`,
      `    [${lua(NS_BARE_DISCO_ITEMS)}] = { jid = ${c} };`,
      '  }',
    );
  }
  if (p.privileges) {
    lines.push(
      '  privileged_entities = {',
      `    [${c}] = { roster = "get"; message = "outgoing"; presence = "roster" };`,
      '  }',
    );
  }
  if (p.pepHost) lines.push('', `VirtualHost ${lua(PEP_HOST)}`, '  modules_enabled = { "pep" }');
  lines.push('', `Component ${c}`, `  component_secret = ${lua(p.secret)}`, '  modules_enabled = { "delegation", "privilege" }', '');
  return lines.join('\n');
}

/** Prosody's datamanager path encoding: every non-alphanumeric byte becomes %xx. */
const dmEncode = (s: string): string => s.replace(/[^A-Za-z0-9]/g, (ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Writes an account in mod_auth_internal_hashed's format (SCRAM-SHA-1 keys, hex). */
export async function writeAccount(dataPath: string, user: string, password: string, host: string): Promise<void> {
  const node = user.toLowerCase();
  if (!/^[a-z0-9._-]+$/.test(node)) throw new Error(`unsupported username for the harness: ${user}`);
  const salt = randomUUID();
  const salted = await pbkdf2Async(password, salt, ACCOUNT_ITERATION_COUNT, 20, 'sha1');
  const storedKey = createHash('sha1').update(createHmac('sha1', salted).update('Client Key').digest()).digest('hex');
  const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
  const dir = join(dataPath, dmEncode(host), 'accounts');
  await mkdir(dir, { recursive: true });
  const body =
    'return {\n' +
    `\t["stored_key"] = ${lua(storedKey)};\n` +
    `\t["salt"] = ${lua(salt)};\n` +
    `\t["iteration_count"] = ${ACCOUNT_ITERATION_COUNT};\n` +
    `\t["server_key"] = ${lua(serverKey)};\n` +
    '};\n';
  await writeFile(join(dir, `${dmEncode(node)}.dat`), body);
}

/** Any text as a Lua string literal: printable ASCII as is, every other byte (double quote and backslash included) as a decimal `\ddd` escape. */
export const luaString = (s: string): string => {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
};

/** Pure: the roster file text (mod_storage_internal's keyval format, as core/rostermanager.lua stores it). */
export function rosterFile(items: ProsodyRosterItem[]): string {
  const lines = ['return {', '\t[false] = { ["version"] = 1; ["pending"] = {}; };'];
  for (const item of items) {
    const fields = [`["subscription"] = ${luaString(item.subscription ?? 'none')};`];
    if (item.name !== undefined) fields.push(`["name"] = ${luaString(item.name)};`);
    if (item.ask !== undefined) fields.push(`["ask"] = ${luaString(item.ask)};`);
    fields.push(`["groups"] = { ${(item.groups ?? []).map((g) => `[${luaString(g)}] = true;`).join(' ')} };`);
    lines.push(`\t[${luaString(item.jid)}] = { ${fields.join(' ')} };`);
  }
  lines.push('};', '');
  return lines.join('\n');
}

/** Writes `user`'s roster (replacing it); JIDs are written as given (use normalized bare JIDs). */
export async function writeRoster(dataPath: string, user: string, host: string, items: ProsodyRosterItem[]): Promise<void> {
  const node = user.toLowerCase();
  if (!/^[a-z0-9._-]+$/.test(node)) throw new Error(`unsupported username for the harness: ${user}`);
  const dir = join(dataPath, dmEncode(host), 'roster');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${dmEncode(node)}.dat`), rosterFile(items));
}

/** The slow, official way (~0.1 s per user on this machine); kept to cross-check writeAccount. */
export async function registerWithProsodyctl(configPath: string, user: string, password: string, host = 'localhost'): Promise<void> {
  await execFileAsync(PROSODYCTL_BIN, ['--config', configPath, 'register', user, host, password], { timeout: 20_000 });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyHandle> {
  const componentJid = opts.componentJid ?? DEFAULT_COMPONENT_JID;
  const secret = opts.componentSecret ?? `s3cret-${randomUUID().slice(0, 8)}`;
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-prosody-'));
  const dataPath = join(dir, 'data');
  await Promise.all([mkdir(dataPath), mkdir(join(dir, 'certs'))]);
  const c2sPort = await freePort();
  let componentPort = await freePort();
  while (componentPort === c2sPort) componentPort = await freePort();
  const configPath = join(dir, 'prosody.cfg.lua');
  const logPath = join(dir, 'prosody.log');
  await writeFile(
    configPath,
    prosodyConfig({
      dir, c2sPort, componentPort, componentJid, secret,
      delegations: opts.delegations ?? true,
      privileges: opts.privileges ?? true,
      pepHost: opts.pepHost ?? false,
      logLevel: opts.logLevel ?? 'debug',
      nagle: opts.nagle,
      extraGlobal: opts.extraGlobal,
      deployExample: opts.deployExample ? await readFile(PROSODY_DEPLOY_EXAMPLE, 'utf8') : undefined,
    }),
  );

  const register = (user: string, password: string, host = 'localhost') => writeAccount(dataPath, user, password, host);
  // Accounts first: they are plain files, and clients may connect as soon as the ports are open.
  await Promise.all((opts.users ?? []).map((u) => register(u.user, u.password, u.host)));
  const putRoster = (user: string, items: ProsodyRosterItem[], host = 'localhost') => writeRoster(dataPath, user, host, items);
  await Promise.all([
    ...Object.entries(opts.rosters ?? {}).map(([user, items]) => putRoster(user, items)),
    ...(opts.rosterList ?? []).map((r) => putRoster(r.user, r.items, r.host)),
  ]);

  const consolePath = join(dir, 'console.log');
  const consoleFd = openSync(consolePath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(PROSODY_BIN, ['-F', '--config', configPath], { stdio: ['ignore', consoleFd, consoleFd] });
  } finally {
    closeSync(consoleFd);
  }
  trackChild(child.pid);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; untrackChild(child.pid); resolve(); }));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));

  const stop = async (): Promise<void> => {
    if (!exited && child.pid) {
      signal(child.pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exitPromise, new Promise((r) => { timer = setTimeout(r, STOP_GRACE_MS); })]);
      clearTimeout(timer);
      if (!exited) {
        signal(child.pid, 'SIGKILL');
        await exitPromise;
      }
    }
    if (process.env.KEEP_TMP === '1') console.error(`[prosody] kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  };

  try {
    const earlyExit = exitPromise.then(async () => {
      const out = await readFile(consolePath, 'utf8').catch(() => '');
      const log = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`prosody exited during startup (code ${child.exitCode})\n${out}\n${log.split('\n').slice(-30).join('\n')}`);
    });
    await Promise.race([
      Promise.all([waitForPort(c2sPort, START_TIMEOUT_MS), waitForPort(componentPort, START_TIMEOUT_MS)]),
      earlyExit,
      spawnError,
    ]);
    earlyExit.catch(() => undefined);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    c2sPort, componentPort, domain: 'localhost', componentJid, secret, dir, configPath, pid: child.pid!, logPath,
    register, writeRoster: putRoster, stop, [Symbol.asyncDispose]: stop,
  };
}
