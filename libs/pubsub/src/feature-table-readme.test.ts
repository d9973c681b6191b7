import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { currentFeatureTable, README_PATH } from '../../../scripts/feature-table-markers';
import { featureTableMarkdown, FEATURES, PEP_FEATURE_TABLE } from './features';

test('the README feature table is the one disco advertises from (run `npm run docs:features` after a change)', () => {
  assert.equal(currentFeatureTable(readFileSync(README_PATH, 'utf8')), featureTableMarkdown());
});

test('disco advertises exactly the supported rows', () => {
  assert.deepEqual([...FEATURES].sort(), PEP_FEATURE_TABLE.filter((r) => r.supported).map((r) => `http://jabber.org/protocol/pubsub#${r.feature}`).sort());
});
