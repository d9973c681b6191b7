import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EXAMPLE_CONFIG_PATH, ejabberdBaseConfig, substituteExample } from './ejabberd';

// The harness runs deploy/ejabberd/ejabberd.yml itself (test/e2e/interop.test.ts); these pin down how it is
// adapted, so that an edit of the example the harness does not understand fails here, loudly.
/** The config without its comments (they name the placeholders on purpose). */
const body = (s: string) => s.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
const params = { domain: 'localhost', componentJid: 'pubsub.localhost', componentPort: 40123, secret: 's3cret-x', delegations: true, privileges: true };

test('the example config: every placeholder replaced, nothing else changed', async () => {
  const example = await readFile(EXAMPLE_CONFIG_PATH, 'utf8');
  const out = body(substituteExample(example, params));
  assert.doesNotMatch(out, /example\.org|5347|change-me/);
  assert.match(out, /^ {4}port: 40123$/m);
  assert.match(out, /^ {6}pubsub\.localhost:\n {8}password: "s3cret-x"$/m);
  assert.match(out, /^ {4}server: pubsub\.localhost$/m);
  for (const ns of ['http://jabber.org/protocol/pubsub', 'http://jabber.org/protocol/pubsub#owner', 'urn:xmpp:mam:2']) assert.ok(out.includes(`"${ns}":\n        access: delegation_broker`), ns);
  assert.match(out, /mod_privilege:\n {4}roster:\n {6}get: delegation_broker\n {4}message:\n {6}outgoing: delegation_broker\n {4}presence:\n {6}roster: delegation_broker/);
  const lines = (s: string) => s.split('\n').filter((l) => !/example\.org|5347|change-me/.test(l));
  assert.deepEqual(lines(out).filter((l) => !/localhost|40123|s3cret-x/.test(l)), lines(body(example)));
});

test('the example config: mod_delegation or mod_privilege dropped on request, the rest kept', async () => {
  const example = await readFile(EXAMPLE_CONFIG_PATH, 'utf8');
  const noDelegation = body(substituteExample(example, { ...params, delegations: false }));
  assert.doesNotMatch(noDelegation, /mod_delegation|urn:xmpp:mam:2/);
  assert.match(noDelegation, /mod_privilege:/);
  const noPrivilege = body(substituteExample(example, { ...params, privileges: false }));
  assert.doesNotMatch(noPrivilege, /mod_privilege|outgoing/);
  assert.match(noPrivilege, /mod_delegation:/);
});

test('a placeholder missing from the example is an error, not a silently different config', () => {
  assert.throws(() => substituteExample('listen: []\n', params), /placeholder/);
  assert.throws(() => substituteExample('acl: {a: {server: pubsub.example.org}}\n', params), /placeholder example\.org|placeholder port/);
});

test('the base config: loopback listeners, plain passwords for PLAIN logins, the fragment included last', () => {
  const base = ejabberdBaseConfig({ domain: 'localhost', c2sPort: 1, httpPort: 2, logLevel: 'info', pep: false, includePath: '/tmp/x/frag.yml' });
  assert.match(base, /port: 1, ip: "127\.0\.0\.1", module: ejabberd_c2s, starttls: false/);
  assert.match(base, /port: 2, ip: "127\.0\.0\.1", module: ejabberd_http/);
  assert.match(base, /^acme: \{auto: false\}$/m);
  assert.ok(base.trimEnd().endsWith('include_config_file: "/tmp/x/frag.yml"'));
  assert.doesNotMatch(base, /mod_pubsub/);
  assert.match(ejabberdBaseConfig({ domain: 'localhost', c2sPort: 1, httpPort: 2, logLevel: 'info', pep: true }), /mod_pubsub: \{plugins: \[flat, pep\]/);
});
