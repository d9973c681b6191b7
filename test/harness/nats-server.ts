import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports';

export interface NatsServerHandle {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface NatsServerOptions {
  bin?: string;
  /** A server configuration file (e.g. deploy/nats/nats-server.conf); address, port and store dir are still the throw-away ones. */
  configFile?: string;
  /** Environment of the server (the variables the config file refers to). */
  env?: Record<string, string>;
  /** JetStream on (default); operator-mode configurations without a system account need it off. */
  jetstream?: boolean;
}

/** Starts a throw-away nats-server with JetStream on a free loopback port and a temporary store dir. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = opts.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-nats-'));
  const args = [...(opts.configFile ? ['-c', opts.configFile] : []), '-a', '127.0.0.1', '-p', String(port), ...(opts.jetstream === false ? [] : ['-js', '-sd', dir])];
  const child: ChildProcess = spawn(bin, args, { stdio: 'ignore', ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  await waitForPort(port);
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid!, stop, [Symbol.asyncDispose]: stop };
}
