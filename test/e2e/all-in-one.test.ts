import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml, { type Element } from '@xmpp/xml';
import { startProsody } from '../harness/prosody';
import { connectClient, iq, closeAll } from '../harness/xmpp-client';
import { freePort } from '../harness/ports';
import { REPO_ROOT } from '../harness/stack';
import { connectBus } from '@dbroker/bus';

// The README's first command on a machine with nothing configured: `npm start` with only the XMPP
// coordinates set. It must start its own nats-server, use embedded PGlite, serve PEP and MAM and stop cleanly.
test('npm start: all services in one process with embedded NATS and PGlite serve PEP and stop on SIGTERM', async () => {
  await using prosody = await startProsody({ users: [{ user: 'alice', password: 'pw' }] });
  const dataDir = await mkdtemp(join(tmpdir(), 'dbroker-aio-'));
  const httpPort = await freePort();
  const natsPort = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(NATS_URL|DATABASE_URL|OTEL_|NODE_TEST)/.test(k)) env[k] = v;
  const child = spawn('npm', ['start', '--silent'], {
    cwd: REPO_ROOT,
    env: { ...env, XMPP_SERVICE: `xmpp://127.0.0.1:${prosody.componentPort}`, XMPP_DOMAIN: prosody.componentJid, XMPP_SECRET: prosody.secret, XMPP_SERVER: 'localhost', DATA_DIR: dataDir, HTTP_PORT: String(httpPort), EMBEDDED_NATS_PORT: String(natsPort), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(Date.now() < until, `not ready within 60 s:\n${output.slice(-3000)}`);
      assert.equal(child.exitCode, null, `exited early:\n${output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(output, /embedded nats-server started/);
    assert.match(output, /embedded PGlite database/);
    // The embedded NATS takes only the broker's own services: its generated password stays in DATA_DIR.
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    await assert.rejects(connectBus({ url: `nats://127.0.0.1:${natsPort}`, name: 'intruder', logger: quiet, timeoutMs: 2000 }), /Authorization Violation/);
    assert.equal((await stat(join(dataDir, 'nats'))).mode & 0o777, 0o700);
    for (const f of ['password', 'nats-server.conf']) assert.equal((await stat(join(dataDir, 'nats', f))).mode & 0o777, 0o600, f);
    const password = (await readFile(join(dataDir, 'nats', 'password'), 'utf8')).trim();
    assert.ok(!output.includes(password), 'the password is never logged');
    const alice = await connectClient({ port: prosody.c2sPort, user: 'alice', password: 'pw' });
    try {
      const PUBSUB = 'http://jabber.org/protocol/pubsub';
      const until2 = Date.now() + 10_000;
      // The grant arrives just after the component is online.
      for (;;) {
        const r = await iq(alice, xml('iq', { type: 'set', id: `p${Date.now()}` }, xml('pubsub', { xmlns: PUBSUB }, xml('publish', { node: 'urn:xmpp:aio' }, xml('item', { id: 'one' }, xml('x', { xmlns: 'urn:aio' }, 'hello')))))).catch((e: Error) => e);
        if (!(r instanceof Error)) break;
        assert.ok(Date.now() < until2, String(r));
        await new Promise((r) => setTimeout(r, 200));
      }
      const got = await iq(alice, xml('iq', { type: 'get', id: 'g1' }, xml('pubsub', { xmlns: PUBSUB }, xml('items', { node: 'urn:xmpp:aio' }))));
      assert.equal(got.getChild('pubsub', PUBSUB)!.getChild('items')!.getChild('item')!.getChildText('x'), 'hello');
      // MAM on the same node (the MAM worker runs in the same process, on PGlite): one result message, then the fin
      const MAM = 'urn:xmpp:mam:2';
      const results: Element[] = [];
      const onStanza = (el: Element) => void (el.name === 'message' && el.getChild('result', MAM) && results.push(el));
      alice.on('stanza', onStanza);
      const fin = await iq(alice, xml('iq', { type: 'set', id: 'mam1' }, xml('query', { xmlns: MAM, node: 'urn:xmpp:aio', queryid: 'aio' })));
      alice.removeListener('stanza', onStanza);
      assert.equal(fin.getChild('fin', MAM)?.attrs.complete, 'true', fin.toString());
      assert.equal(results.length, 1);
      assert.equal(results[0]!.getChild('result', MAM)!.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('message')!.getChild('event')!.getChild('items')!.getChild('item')!.getChildText('x'), 'hello');
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(metrics, /dbroker_ingress_requests_total\{[^}]*outcome="result"/);
      assert.match(metrics, /dbroker_mam_results_delivered_total\{[^}]*\} 1\n/);
    } finally {
      await closeAll([alice]);
    }
    process.kill(-child.pid!, 'SIGTERM'); // as a terminal or container runtime would: the whole group
    await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000).unref())]);
    const t0 = Date.now();
    while (!/"msg":"stopped"/.test(output) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    assert.match(output, /"msg":"stopped"/, `graceful stop on SIGTERM:\n${output.slice(-2000)}`);
    assert.doesNotMatch(output, /"level":"(error|fatal)"/, 'no error while running or stopping');
  } finally {
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // The embedded nats-server runs in its own process group: end it if the broker could not.
    const natsPid = Number(await readFile(join(dataDir, 'nats', 'nats-server.pid'), 'utf8').catch(() => ''));
    const cmdline = natsPid ? await readFile(`/proc/${natsPid}/cmdline`, 'utf8').catch(() => '') : '';
    if (natsPid && cmdline.includes(dataDir)) {
      try {
        process.kill(natsPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});
