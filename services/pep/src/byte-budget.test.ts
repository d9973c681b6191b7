import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createByteBudget } from './byte-budget';

test('a byte budget serves waiters in order, never over its bound, and lets a larger request through alone', async () => {
  const budget = createByteBudget(100);
  const order: string[] = [];
  await budget.acquire(60);
  const big = budget.acquire(250).then(() => order.push('big'));
  const small = budget.acquire(10).then(() => order.push('small'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'the small one does not overtake the big one waiting before it');
  budget.release(60);
  await big;
  assert.equal(budget.held(), 250, 'the oversized request runs alone');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['big']);
  budget.release(250);
  await small;
  assert.deepEqual(order, ['big', 'small']);
  assert.equal(budget.held(), 10);
  budget.release(10);
  assert.equal(budget.held(), 0);
  assert.equal(budget.peak(), 250);
});
