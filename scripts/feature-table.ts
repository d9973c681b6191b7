// `npm run docs:features`: writes the PEP feature table (libs/pubsub PEP_FEATURE_TABLE, the same data disco
// advertises) into README.md between its markers. A test fails when the README and the table differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { featureTableMarkdown } from '@dbroker/pubsub';
import { README_PATH, replaceFeatureTable } from './feature-table-markers';

writeFileSync(README_PATH, replaceFeatureTable(readFileSync(README_PATH, 'utf8'), featureTableMarkdown()));
console.log(`feature table written to ${README_PATH}`);
