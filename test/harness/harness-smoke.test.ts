import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from './nats-server';
import { createTempDatabase } from './postgres';
test('harness', async () => {
  const n = await startNatsServer(); assert.match(n.url, /nats:/); await n.stop();
  const d = await createTempDatabase(); assert.ok(d.url); await d.drop();
});
