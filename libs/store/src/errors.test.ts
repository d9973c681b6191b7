import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPermanentDbError, sqlState } from './errors';

test('sqlState finds the code through wrapping causes', () => {
  const pgErr = Object.assign(new Error('duplicate key'), { code: '23505' });
  const wrapped = new Error('Failed query', { cause: pgErr });
  assert.equal(sqlState(wrapped), '23505');
  assert.equal(sqlState(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined);
  assert.equal(sqlState(undefined), undefined);
});

test('data, integrity and limit errors are permanent; connection, missing table and unknown ones are not', () => {
  const withCode = (code: string) => new Error('Failed query', { cause: Object.assign(new Error(code), { code }) });
  for (const code of ['22P05', '22021', '23505', '54000']) assert.equal(isPermanentDbError(withCode(code)), true, code);
  for (const code of ['08006', '57P01', '40001', '42P01', '42501', '53300']) assert.equal(isPermanentDbError(withCode(code)), false, code);
  assert.equal(isPermanentDbError(new Error('Connection terminated unexpectedly')), false);
  assert.equal(isPermanentDbError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), false);
});
