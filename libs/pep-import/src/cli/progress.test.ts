import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, progressBar, userLine } from './progress';
import type { UserReport } from '../importer';

const report: UserReport = {
  owner: 'alice@example.org',
  problems: [],
  nodes: [
    { node: 'a', status: 'created', itemsImported: 2, itemsUnchanged: 0, itemsSuperseded: 0, affiliationsSet: 1, subscriptionsAdded: 0, dropped: ['title=x'] },
    { node: 'b', status: 'existing', itemsImported: 0, itemsUnchanged: 3, itemsSuperseded: 0, affiliationsSet: 0, subscriptionsAdded: 0, dropped: [] },
    { node: 'c', status: 'skipped', itemsImported: 0, itemsUnchanged: 0, itemsSuperseded: 0, affiliationsSet: 0, subscriptionsAdded: 0, dropped: [] },
  ],
};

test('progress bar: proportional, bounded, unknown totals', () => {
  assert.equal(progressBar(0, 4, 8), '[........] 0/4');
  assert.equal(progressBar(2, 4, 8), '[####....] 2/4');
  assert.equal(progressBar(9, 4, 8), '[########] 9/4');
  assert.equal(progressBar(3, undefined, 4), '[????] 3');
});

test('one line per account: what was (or would be) imported, skipped and not kept', () => {
  assert.equal(userLine(report, false), 'alice@example.org: imported 2 item(s) in 2 node(s) (1 new); 3 already there; 1 node(s) skipped; not kept: a: title=x');
  assert.match(userLine(report, true), /^alice@example.org: would import 2 item/);
});

test('a terminal gets one bar redrawn in place; anything else one plain line per account (dry run: per node too)', () => {
  const tty: string[] = [];
  const p = createProgress({ tty: true, total: 2, dryRun: false, write: (s) => tty.push(s) });
  p.user(report);
  p.user(report);
  p.done();
  assert.deepEqual(tty, [`\r${progressBar(1, 2)} accounts, 2 item(s)`, `\r${progressBar(2, 2)} accounts, 4 item(s)`, '\n']);
  const plain: string[] = [];
  const q = createProgress({ tty: false, total: 1, dryRun: true, write: (s) => plain.push(s) });
  q.user(report);
  q.done();
  assert.equal(plain.length, 4);
  assert.match(plain[0]!, /^\[#+\] 1\/1 alice@example.org: would import/);
  assert.match(plain[1]!, /^ {2}a: created, \+2 item\(s\), 0 unchanged, \+1 affiliation\(s\), \+0 subscription\(s\)\n$/);
});
