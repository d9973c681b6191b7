import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus, type BusAuthSettings } from './connection';
import { createRequester } from './requester';

const lines: string[] = [];
const logger = { debug() {}, info: (o: object, m?: string) => void lines.push(JSON.stringify(o) + (m ?? '')), warn() {}, error() {} };
const connect = (url: string, auth?: BusAuthSettings, kind?: string) => connectBus({ url, name: 'connection-test', logger, timeoutMs: 2000, ...(auth ? { auth } : {}), ...(kind ? { kind } : {}) });

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'dbroker-conn-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('user/password (variables, file, or user:pass@ in NATS_URL) and NKey seed (inline or file) authenticate; nothing else does; the URL credentials are never logged', async () => {
  await withDir(async (dir) => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const conf = join(dir, 'auth.conf');
    await writeFile(conf, `authorization { users: [ { user: svc, password: "p@ss:w/rd" }, { nkey: ${user.getPublicKey()} } ] }\n`);
    await using nats = await startNatsServer({ configFile: conf });
    const port = new URL(nats.url).port;
    await writeFile(join(dir, 'password'), 'p@ss:w/rd\n', { mode: 0o600 });
    await writeFile(join(dir, 'seed'), `${seed}\n`, { mode: 0o600 });
    const good: Array<[string, string, BusAuthSettings | undefined]> = [
      ['user/password', nats.url, { NATS_USER: 'svc', NATS_PASSWORD: 'p@ss:w/rd' }],
      ['password file', nats.url, { NATS_USER: 'svc', NATS_PASSWORD_FILE: join(dir, 'password') }],
      ['user:pass@ in the URL', `nats://svc:${encodeURIComponent('p@ss:w/rd')}@127.0.0.1:${port}`, undefined],
      ['NKey seed', nats.url, { NATS_NKEY_SEED: seed }],
      ['NKey seed file', nats.url, { NATS_NKEY_SEED_FILE: join(dir, 'seed') }],
    ];
    for (const [what, url, auth] of good) {
      const bus = await connect(url, auth).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
      await bus.drain();
    }
    assert.ok(!lines.join('\n').includes('p@ss') && !lines.join('\n').includes(encodeURIComponent('p@ss:w/rd')), 'no credentials in the logs');
    await assert.rejects(connect(nats.url), /Authorization Violation/);
    await assert.rejects(connect(nats.url, { NATS_USER: 'svc', NATS_PASSWORD: 'nope' }), /Authorization Violation/);
    await assert.rejects(connect(nats.url, { NATS_NKEY_SEED: new TextDecoder().decode(nkeys.createUser().getSeed()) }), /Authorization Violation/);
  });
});

test('token (inline, file or token@ in NATS_URL) authenticates', async () => {
  await withDir(async (dir) => {
    const conf = join(dir, 'token.conf');
    await writeFile(conf, 'authorization { token: "t0ken-s3cret" }\n');
    await using nats = await startNatsServer({ configFile: conf });
    await writeFile(join(dir, 'token'), 't0ken-s3cret\n');
    for (const [url, auth] of [
      [nats.url, { NATS_TOKEN: 't0ken-s3cret' }],
      [nats.url, { NATS_TOKEN_FILE: join(dir, 'token') }],
      [nats.url.replace('nats://', 'nats://t0ken-s3cret@'), undefined],
    ] as const) {
      await (await connect(url, auth)).drain();
    }
    await assert.rejects(connect(nats.url, { NATS_TOKEN: 'wrong' }), /Authorization Violation/);
  });
});

test('TLS: the server certificate is checked against NATS_TLS_CA_FILE; a client certificate is presented when the server verifies clients', async () => {
  await withDir(async (dir) => {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test-ca');
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
    for (const name of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'san.ext');
    }
    const conf = join(dir, 'tls.conf');
    await writeFile(conf, `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}", ca_file: "${join(dir, 'ca.pem')}", verify: true }\n`);
    await using nats = await startNatsServer({ configFile: conf });
    const f = (n: string) => join(dir, n);
    await (await connect(nats.url, { NATS_TLS_CA_FILE: f('ca.pem'), NATS_TLS_CERT_FILE: f('client.pem'), NATS_TLS_KEY_FILE: f('client.key') })).drain();
    await (await connect(nats.url.replace('nats://', 'tls://'), { NATS_TLS_CA_FILE: f('ca.pem'), NATS_TLS_CERT_FILE: f('client.pem'), NATS_TLS_KEY_FILE: f('client.key') })).drain();
    // A tls:// URL alone asks for TLS too (here: the server also wants a client certificate, so it fails).
    await assert.rejects(connect(nats.url.replace('nats://', 'tls://'), { NATS_TLS_CA_FILE: f('ca.pem') }));
    // Without the CA the self-signed chain is not trusted.
    await assert.rejects(connect(nats.url, { NATS_TLS_CERT_FILE: f('client.pem'), NATS_TLS_KEY_FILE: f('client.key') }), /unable to verify|self.signed|certificate/);
  });
});

test('kind: replies come to `_INBOX.<kind>.>` (requester and nats.js requests alike)', async () => {
  await using nats = await startNatsServer();
  const bus = await connect(nats.url, undefined, 'pep');
  const seen: string[] = [];
  bus.nc.subscribe('echo', { callback: (_e, m) => { seen.push(m.reply ?? ''); m.respond('ok'); } });
  await bus.nc.flush();
  const out = await createRequester(bus.nc).request('echo', 'x', { timeoutMs: 2000 });
  assert.equal(out.kind, 'reply');
  await bus.nc.request('echo', 'y', { timeout: 2000 });
  assert.equal(seen.length, 2);
  for (const reply of seen) assert.match(reply, /^_INBOX\.pep\./);
  await bus.drain();
});

/** A JWT signed by an NKey (the `ed25519-nkey` algorithm of NATS decentralized auth). */
function natsJwt(signer: ReturnType<typeof nkeys.createOperator>, sub: string, nats: Record<string, unknown>): string {
  const b64 = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');
  const header = b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = { jti: randomUUID().replace(/-/g, '').toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), name: sub.slice(0, 8), sub, nats: { ...nats, version: 2 } };
  const body = `${header}.${b64(JSON.stringify(claims))}`;
  return `${body}.${b64(signer.sign(new TextEncoder().encode(body)))}`;
}

test('.creds file (decentralized auth: operator, account, user JWT) authenticates', async () => {
  await withDir(async (dir) => {
    const operator = nkeys.createOperator();
    const account = nkeys.createAccount();
    const user = nkeys.createUser();
    const unlimited = { subs: -1, data: -1, payload: -1 };
    const operatorJwt = natsJwt(operator, operator.getPublicKey(), { type: 'operator' });
    const accountJwt = natsJwt(operator, account.getPublicKey(), { type: 'account', limits: { ...unlimited, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 } });
    const userJwt = natsJwt(account, user.getPublicKey(), { type: 'user', pub: {}, sub: {}, ...unlimited });
    const conf = join(dir, 'operator.conf');
    await writeFile(conf, `operator: ${operatorJwt}\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accountJwt} }\n`);
    const creds = join(dir, 'svc.creds');
    const seed = new TextDecoder().decode(user.getSeed());
    await writeFile(creds, `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`, { mode: 0o600 });
    await using nats = await startNatsServer({ configFile: conf, jetstream: false });
    const bus = await connect(nats.url, { NATS_CREDS_FILE: creds });
    assert.equal((await createRequester(bus.nc).request('nobody', 'x', { timeoutMs: 1000 })).kind, 'no-responders');
    await bus.drain();
    await assert.rejects(connect(nats.url), /Authorization Violation/);
  });
});
