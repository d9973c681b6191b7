import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, connect } from 'node:net';

export interface EmbeddedNats {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export class NatsBinaryMissingError extends Error {
  override name = 'NatsBinaryMissingError';
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Starts nats-server (JetStream on, loopback only) as a child process for the all-in-one mode. */
/** The pid file of the embedded server, so that one left behind by a killed broker can be found and ended. */
export const embeddedNatsPidFile = (storeDir: string) => join(storeDir, 'nats-server.pid');

/** Ends a nats-server a previous, killed run left on this store dir (it would hold the store's lock). */
async function endLeftover(storeDir: string): Promise<void> {
  const pid = Number(await readFile(embeddedNatsPidFile(storeDir), 'utf8').catch(() => ''));
  if (!pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline.includes('nats-server') && cmdline.includes(storeDir)) process.kill(pid, 'SIGKILL');
  await rm(embeddedNatsPidFile(storeDir), { force: true });
}

export async function startEmbeddedNats({ bin, port, storeDir }: { bin: string; port: number; storeDir: string }): Promise<EmbeddedNats> {
  await mkdir(storeDir, { recursive: true });
  await endLeftover(storeDir);
  const p = port || (await freePort());
  // Its own process group: a Ctrl-C or a group SIGTERM reaches the broker, which drains and then stops
  // NATS itself, instead of NATS dying under requests still in flight.
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
  const killOnExit = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', killOnExit);
  if (child.pid) await writeFile(embeddedNatsPidFile(storeDir), String(child.pid));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const outcome = await Promise.race([
    waitForPort(p, 10_000).then((ok) => (ok ? 'up' : 'timeout')),
    spawnError.then((err) => err),
    exited.then((code) => new Error(`nats-server exited with code ${code}`)),
  ]);
  if (outcome instanceof Error) {
    if ((outcome as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NatsBinaryMissingError(
        `NATS_URL is unset, so the all-in-one mode starts its own nats-server, but '${bin}' was not found.\n` +
          `Install it (Debian: apt-get install nats-server), set NATS_SERVER_BIN to its path, or set NATS_URL to a running NATS with JetStream.`,
      );
    }
    throw outcome;
  }
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`nats-server did not open 127.0.0.1:${p} within 10 s`);
  }
  return {
    url: `nats://127.0.0.1:${p}`,
    pid: child.pid!,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(embeddedNatsPidFile(storeDir), { force: true });
    },
  };
}
