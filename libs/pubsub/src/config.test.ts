import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, configFromFields, configToFields, DEFAULT_NODE_CONFIG, effectiveMaxItems, normaliseConfig, unmetPrecondition, validateConfig } from './config';

const f = (name: string, ...values: string[]) => ({ name, values });

describe('node config', () => {
  test('XEP-0163 defaults', () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG, {
      access_model: 'presence',
      max_items: 1,
      persist_items: true,
      send_last_published_item: 'on_sub_and_presence',
      notify_retract: true,
      deliver_payloads: true,
      publish_model: 'publishers',
      roster_groups_allowed: [],
      notify_delete: true,
      notify_config: false,
    });
  });

  test('publish-options fields → config (XEP-0060 §16.4.4 names, boolean 1/0/true/false)', () => {
    assert.deepEqual(
      configFromFields([
        f('FORM_TYPE', 'http://jabber.org/protocol/pubsub#publish-options'),
        f('pubsub#access_model', 'open'),
        f('pubsub#max_items', 'max'),
        f('pubsub#persist_items', '1'),
        f('pubsub#notify_retract', 'false'),
        f('pubsub#send_last_published_item', 'never'),
      ]),
      { ok: true, value: { access_model: 'open', max_items: 'max', persist_items: true, notify_retract: false, send_last_published_item: 'never' } },
    );
    assert.deepEqual(configFromFields([f('pubsub#max_items', '16')]), { ok: true, value: { max_items: 16 } });
  });

  test('unknown options and unimplemented values cannot be met; malformed values are bad requests', () => {
    const cases: Array<[string, string, string]> = [
      ['pubsub#title', 'Mood', 'precondition-not-met'],
      ['pubsub#access_model', 'authorize', 'precondition-not-met'],
      ['pubsub#publish_model', 'open', 'precondition-not-met'],
      ['pubsub#access_model', 'everyone', 'bad-request'],
      ['pubsub#max_items', '-1', 'bad-request'],
      ['pubsub#persist_items', 'yes', 'bad-request'],
    ];
    for (const [name, value, error] of cases) {
      const r = configFromFields([f(name, value)]);
      assert.equal(r.ok ? 'ok' : r.error, error, `${name}=${value}`);
    }
    const twoValues = configFromFields([f('pubsub#access_model', 'open', 'presence')]);
    assert.equal(twoValues.ok ? 'ok' : twoValues.error, 'bad-request');
  });

  test('bounds of max_items', () => {
    assert.equal(validateConfig({ max_items: 0 }, 256)?.error, 'bad-request');
    assert.equal(validateConfig({ max_items: 257 }, 256)?.error, 'precondition-not-met');
    assert.equal(validateConfig({ max_items: 'max' }, 256), undefined);
    assert.equal(effectiveMaxItems({ ...DEFAULT_NODE_CONFIG, max_items: 'max' }, 256), 256);
  });

  test('preconditions compare with the node config; max matches the service limit', () => {
    const config = { ...DEFAULT_NODE_CONFIG, max_items: 256 };
    assert.equal(unmetPrecondition(config, { max_items: 'max', access_model: 'presence' }, 256), undefined);
    assert.equal(unmetPrecondition(config, { access_model: 'open' }, 256), 'access_model');
    assert.equal(unmetPrecondition(DEFAULT_NODE_CONFIG, { max_items: 'max' }, 256), 'max_items');
  });

  test('stored configs are normalised: missing or invalid keys take defaults', () => {
    assert.deepEqual(normaliseConfig({ access_model: 'open', max_items: 'lots', future_option: 1 }), { ...DEFAULT_NODE_CONFIG, access_model: 'open' });
    assert.deepEqual(normaliseConfig(null), DEFAULT_NODE_CONFIG);
  });

  test('roster_groups_allowed is list-multi; notify_delete / notify_config are booleans', () => {
    assert.deepEqual(
      configFromFields([f('pubsub#roster_groups_allowed', 'Friends', ' Family ', 'Friends', ''), f('pubsub#notify_delete', '0'), f('pubsub#notify_config', 'true')]),
      { ok: true, value: { roster_groups_allowed: ['Friends', 'Family'], notify_delete: false, notify_config: true } },
    );
    assert.deepEqual(configFromFields([f('pubsub#roster_groups_allowed')]), { ok: true, value: { roster_groups_allowed: [] } });
    const tooMany = configFromFields([f('pubsub#roster_groups_allowed', ...Array.from({ length: 65 }, (_, i) => `g${i}`))]);
    assert.equal(tooMany.ok ? 'ok' : tooMany.error, 'bad-request');
    assert.equal(validateConfig({ roster_groups_allowed: ['x'.repeat(2000)] }, 256)?.error, 'bad-request');
    // groups compare as sets in preconditions
    const config = buildConfig({ access_model: 'roster', roster_groups_allowed: ['A', 'B'] });
    assert.equal(unmetPrecondition(config, { roster_groups_allowed: ['B', 'A'] }, 256), undefined);
    assert.equal(unmetPrecondition(config, { roster_groups_allowed: ['A'] }, 256), 'roster_groups_allowed');
    assert.deepEqual(normaliseConfig({ roster_groups_allowed: ['A', 3, 'B'] }).roster_groups_allowed, ['A', 'B']);
  });

  test('configToFields: every key as a form field, round trip through configFromFields', () => {
    const config = buildConfig({ access_model: 'roster', roster_groups_allowed: ['A', 'B'], max_items: 'max', notify_retract: false });
    const fields = configToFields(config);
    assert.equal(fields.length, Object.keys(DEFAULT_NODE_CONFIG).length);
    assert.deepEqual(fields.find((x) => x.key === 'notify_retract')?.values, ['0']);
    const back = configFromFields(fields.map((x) => ({ name: x.name, values: x.values })));
    assert.deepEqual(back, { ok: true, value: config });
  });

  test('buildConfig copies: the defaults are never shared mutable state', () => {
    const a = buildConfig();
    a.roster_groups_allowed.push('x');
    assert.deepEqual(DEFAULT_NODE_CONFIG.roster_groups_allowed, []);
    assert.deepEqual(buildConfig().roster_groups_allowed, []);
  });
});
