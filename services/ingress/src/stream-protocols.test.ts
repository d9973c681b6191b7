import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamProtocols, type Schedule, type StreamProtocols } from './stream-protocols';

/** A manual clock: `run()` fires what is scheduled, as the timer would. */
function manual() {
  const queued: Array<{ fn: () => void; cancelled: boolean }> = [];
  const schedule: Schedule = (fn) => {
    const t = { fn, cancelled: false };
    queued.push(t);
    return () => void (t.cancelled = true);
  };
  const run = () => {
    for (const t of queued.splice(0)) if (!t.cancelled) t.fn();
  };
  const waiting = () => queued.filter((t) => !t.cancelled).length;
  return { schedule, run, waiting };
}

const D1 = 'urn:xmpp:delegation:1';
const D2 = 'urn:xmpp:delegation:2';
const P1 = 'urn:xmpp:privilege:1';
const P2 = 'urn:xmpp:privilege:2';

test('ejabberd-like stream: many grant messages and a privilege one in the window give one report', () => {
  const clock = manual();
  const reports: StreamProtocols[] = [];
  const p = createStreamProtocols({ debounceMs: 1000, report: (r) => reports.push(r), schedule: clock.schedule });
  p.privilege(P1);
  for (let i = 0; i < 6; i++) p.delegation(D1);
  assert.equal(clock.waiting(), 1, 'one window');
  assert.deepEqual(reports, []);
  clock.run();
  assert.deepEqual(reports, [{ delegation: D1, privilege: P1 }]);
  p.delegation(D1);
  p.privilege(P1);
  clock.run();
  assert.equal(reports.length, 1, 'the same versions again: nothing');
});

test('a version that changes or appears after the report is reported again', () => {
  const clock = manual();
  const reports: StreamProtocols[] = [];
  const p = createStreamProtocols({ debounceMs: 1000, report: (r) => reports.push(r), schedule: clock.schedule });
  p.delegation(D2);
  clock.run();
  p.privilege(P2);
  clock.run();
  p.delegation(D1);
  p.delegation(D2); // back to what was reported within the window: nothing new
  clock.run();
  assert.deepEqual(reports, [{ delegation: D2, privilege: null }, { delegation: D2, privilege: P2 }]);
});

test('reset reports what is waiting, then the next stream starts from nothing', () => {
  const clock = manual();
  const reports: StreamProtocols[] = [];
  const p = createStreamProtocols({ debounceMs: 1000, report: (r) => reports.push(r), schedule: clock.schedule });
  p.delegation(D2);
  p.reset();
  assert.deepEqual(reports, [{ delegation: D2, privilege: null }]);
  assert.equal(clock.waiting(), 0);
  assert.deepEqual(p.current(), { delegation: null, privilege: null });
  p.reset();
  assert.equal(reports.length, 1, 'nothing waiting: nothing reported');
  p.delegation(D2);
  clock.run();
  assert.deepEqual(reports, [{ delegation: D2, privilege: null }, { delegation: D2, privilege: null }], 'a new stream reports again');
});
