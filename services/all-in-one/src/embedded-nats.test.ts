import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, ensureEventsStream } from '@dbroker/bus';
import { embeddedNatsConfigFile, embeddedNatsPasswordFile, startEmbeddedNats } from './embedded-nats';

const logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const bus = (url: string, auth?: { NATS_USER: string; NATS_PASSWORD: string }) => connectBus({ url, name: 'embedded-test', logger, timeoutMs: 2000, ...(auth ? { auth } : {}) });
const mode = async (p: string) => (await stat(p)).mode & 0o777;

test('embedded NATS: password generated on first start (0600 files, 0700 dir), required, reused, never on the command line', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dbroker-emb-'));
  const storeDir = join(dataDir, 'nats');
  try {
    const first = await startEmbeddedNats({ bin: process.env.NATS_SERVER_BIN ?? 'nats-server', port: 0, storeDir });
    let password: string;
    try {
      password = first.auth.NATS_PASSWORD;
      assert.ok(password.length >= 32);
      assert.equal(await mode(storeDir), 0o700);
      assert.equal(await mode(embeddedNatsPasswordFile(storeDir)), 0o600);
      assert.equal(await mode(embeddedNatsConfigFile(storeDir)), 0o600);
      const cmdline = await readFile(`/proc/${first.pid}/cmdline`, 'utf8');
      assert.ok(!cmdline.includes(password), 'the password is not on the command line');

      // No credentials, wrong credentials: refused.
      await assert.rejects(bus(first.url), /Authorization Violation/i);
      await assert.rejects(bus(first.url, { NATS_USER: first.auth.NATS_USER, NATS_PASSWORD: 'guess' }), /Authorization Violation/i);
      // The broker's identity: accepted, JetStream available.
      const ok = await bus(first.url, first.auth);
      await ensureEventsStream(ok.nc, 'EMBEDDED_TEST', 'embedded.test');
      await ok.drain();
    } finally {
      await first.stop();
    }
    // A later start reuses it (and tightens modes loosened meanwhile).
    const second = await startEmbeddedNats({ bin: process.env.NATS_SERVER_BIN ?? 'nats-server', port: 0, storeDir });
    try {
      assert.equal(second.auth.NATS_PASSWORD, password);
      await (await bus(second.url, second.auth)).drain();
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
