import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { commonEnv, ConfigError, databaseUrl, natsUrl, parseEnv } from './env';
import { natsSettingsIssues, redactUrl } from './nats';

const Schema = z.object({ ...commonEnv, NATS_URL: natsUrl.default('nats://127.0.0.1:4222'), DATABASE_URL: databaseUrl.optional(), XMPP_SECRET: z.string().min(8).optional() });
const parse = (env: Record<string, string>) => parseEnv(Schema, env, 'svc');

test('NATS settings: every credential variable is read; at most one way of authenticating; a secret inline or as a file', () => {
  const file = fileURLToPath(import.meta.url); // any readable file
  const ok = parse({ NATS_USER: 'pep', NATS_PASSWORD_FILE: file, NATS_TLS_CA_FILE: file, NATS_TLS_CERT_FILE: file, NATS_TLS_KEY_FILE: file });
  assert.equal(ok.NATS_USER, 'pep');
  assert.equal(ok.NATS_PASSWORD_FILE, file);
  assert.throws(() => parse({ NATS_USER: 'pep', NATS_PASSWORD_FILE: '/no/such/secret' }), /NATS_PASSWORD_FILE: cannot read "\/no\/such\/secret" \(ENOENT\)/);
  const url = 'nats://127.0.0.1:4222';
  assert.deepEqual(natsSettingsIssues({ NATS_URL: url }), []);
  assert.deepEqual(natsSettingsIssues({ NATS_URL: 'nats://u:p@a:4222,nats://u:p@b:4222' }), []);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ NATS_URL: url, NATS_TOKEN: 't', NATS_TOKEN_FILE: fileURLToPath(import.meta.url) }, /NATS_TOKEN and NATS_TOKEN_FILE: set only one/],
    [{ NATS_URL: url, NATS_USER: 'u' }, /NATS_USER: needs NATS_PASSWORD/],
    [{ NATS_URL: url, NATS_PASSWORD: 'p' }, /NATS_PASSWORD: needs NATS_USER/],
    [{ NATS_URL: url, NATS_TOKEN: 't', NATS_CREDS_FILE: '/c' }, /NATS_TOKEN, NATS_CREDS_FILE are all set; use exactly one/],
    [{ NATS_URL: 'nats://u:p@h:4222', NATS_USER: 'u', NATS_PASSWORD: 'p' }, /NATS_USER\/NATS_PASSWORD, credentials in NATS_URL/],
    [{ NATS_URL: 'nats://u:p@a:4222,nats://b:4222' }, /every server of the list must carry the same credentials/],
    [{ NATS_URL: url, NATS_TLS_CERT_FILE: '/c.pem' }, /NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE: set both or neither/],
  ];
  for (const [env, pattern] of cases) assert.match(natsSettingsIssues(env as never).join('\n'), pattern);
  assert.throws(() => parse({ NATS_TOKEN: 'abc', NATS_NKEY_SEED_FILE: '/seed' }), (e: Error) => e instanceof ConfigError && /NATS_TOKEN, NATS_NKEY_SEED are all set/.test(e.message) && !e.message.includes('abc'));
});

test('a bad secret is reported by name, never by value; URLs without their credentials', () => {
  const err = (env: Record<string, string>) => {
    try {
      parse(env);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    return assert.fail('accepted');
  };
  const seed = err({ NATS_NKEY_SEED: 'SAnot-a-user-seed-0123' });
  assert.match(seed, /NATS_NKEY_SEED: must be a user NKey seed/);
  assert.ok(!seed.includes('SAnot-a-user-seed-0123'), seed);
  const secret = err({ XMPP_SECRET: 'short' });
  assert.match(secret, /XMPP_SECRET: .*value not shown/);
  assert.ok(!secret.includes('short'), secret);
  const nats = err({ NATS_URL: 'http://user:hunter2@nats:4222' });
  assert.match(nats, /NATS_URL: .*\(got "http:\/\/\*\*\*@nats:4222"\)/);
  assert.ok(!nats.includes('hunter2'));
  const db = err({ DATABASE_URL: 'mysql://dbuser:hunter2@db/x' });
  assert.ok(!db.includes('hunter2') && db.includes('mysql://***@db/x'), db);
  assert.equal(redactUrl('nats://a:b@h1:4222,tls://tok@h2:4222'), 'nats://***@h1:4222,tls://***@h2:4222');
});
