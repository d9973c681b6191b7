import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDateTime, parseDateTime } from './datetime';

const iso = (s: string, r?: 'floor' | 'ceil') => parseDateTime(s, r)?.toISOString();

test('XEP-0082 §3.3 DateTime examples and offsets', () => {
  assert.equal(iso('1969-07-21T02:56:15Z'), '1969-07-21T02:56:15.000Z');
  assert.equal(iso('1969-07-20T21:56:15-05:00'), '1969-07-21T02:56:15.000Z');
  assert.equal(iso('2010-07-10T23:08:25+02:30'), '2010-07-10T20:38:25.000Z');
  assert.equal(iso('2010-06-07T00:00:00Z'), '2010-06-07T00:00:00.000Z');
  assert.equal(iso('0050-01-01T00:00:00Z'), '0050-01-01T00:00:00.000Z', 'years below 100 are not shifted to the 1900s');
  assert.equal(iso('2024-02-29T12:00:00Z'), '2024-02-29T12:00:00.000Z');
});

test('fractions: milliseconds kept, finer digits rounded the way the bound needs', () => {
  assert.equal(iso('2010-07-10T23:08:25.5Z'), '2010-07-10T23:08:25.500Z');
  assert.equal(iso('2010-07-10T23:08:25.123Z'), '2010-07-10T23:08:25.123Z');
  assert.equal(iso('2010-07-10T23:08:25.1234Z', 'floor'), '2010-07-10T23:08:25.123Z');
  assert.equal(iso('2010-07-10T23:08:25.1234Z', 'ceil'), '2010-07-10T23:08:25.124Z');
  assert.equal(iso('2010-07-10T23:08:25.1230000Z', 'ceil'), '2010-07-10T23:08:25.123Z', 'trailing zeros are exact');
  assert.equal(iso('2010-12-31T23:59:59.9999Z', 'ceil'), '2011-01-01T00:00:00.000Z', 'ceil carries over');
});

test('not a DateTime: refused', () => {
  for (const bad of [
    '', '2010-07-10', '2010-07-10T23:08:25', '2010-07-10 23:08:25Z', '2010-7-10T23:08:25Z', '2010-13-01T00:00:00Z',
    '2010-02-29T00:00:00Z', '2010-04-31T00:00:00Z', '2010-07-10T24:00:00Z', '2010-07-10T23:60:00Z', '2010-07-10T23:08:60Z',
    '2010-07-10T23:08:25+0200', '2010-07-10T23:08:25+24:00', '2010-07-10T23:08:25.Z', 'yesterday', '2010-07-10T23:08:25Zjunk',
    '0000-01-01T00:00:00Z', '١٢٣٤-01-01T00:00:00Z',
  ]) {
    assert.equal(parseDateTime(bad), undefined, bad);
  }
});

test('formatting is UTC with milliseconds, and round-trips', () => {
  const d = new Date(Date.UTC(2010, 6, 10, 23, 8, 25, 7));
  assert.equal(formatDateTime(d), '2010-07-10T23:08:25.007Z');
  assert.equal(parseDateTime(formatDateTime(d))?.getTime(), d.getTime());
});
