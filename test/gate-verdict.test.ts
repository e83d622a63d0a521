/** The exit-code rules, from the result alone; and header redaction in results. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactHeaderArgs, redactHeaders } from '../src/config/redact-headers.js';
import { evaluate } from '../src/gate/evaluate.js';
import { runVerdict } from '../src/gate/verdict.js';
import { fakeResult } from './helpers/results.js';

describe('exit-code rules', () => {
  const crossed = evaluate(fakeResult({ accepted: 10, failed: { ECONNRESET: 1 } }), ['failed:count==0']);
  const passed = evaluate(fakeResult({ accepted: 10 }), ['failed:count==0']);
  const table: [string, Parameters<typeof fakeResult>[0], typeof crossed, number, RegExp | undefined][] = [
    ['ok', { accepted: 10, sent: 5, received: 5 }, passed, 0, undefined],
    ['threshold crossed', { accepted: 10, sent: 5, received: 5 }, crossed, 99, /1 threshold crossed: failed:count==0/],
    ['no connection accepted', { accepted: 0, failed: { ETIMEDOUT: 5 } }, crossed, 1, /no connection was accepted \(of 5 attempted\): nothing was measured/],
    ['messaging run without echoes', { accepted: 10, sent: 10, received: 0 }, passed, 1, /no message was echoed \(10 sent\)/],
    ['--rate 0 holds idle: no echoes is fine', { accepted: 10, config: { rate: 0 } }, passed, 0, undefined],
    ['paced run without echoes', { accepted: 10, sent: 10, config: { rate: 5 } }, passed, 1, /no message was echoed/],
    ['fire-and-forget waits for nothing', { accepted: 10, sent: 10, config: { pattern: 'fire', flood: false } }, passed, 0, undefined],
    ['flood without echoes', { accepted: 10, sent: 10, config: { pattern: 'fire', flood: true } }, passed, 1, /no message was echoed \(10 sent\)/],
    ['requests without a matching reply', { accepted: 10, sent: 10, config: { pattern: 'reply' } }, passed, 1, /no reply matched a request \(10 sent\)/],
    ['subscribers that received nothing', { accepted: 10, sent: 0, config: { pattern: 'subscribe' } }, passed, 1, /no message was received \(0 published\)/],
    ['a scenario whose expects all waited in vain', { accepted: 2, sent: 2, unanswered: 2, config: { pattern: 'scenario' } }, passed, 1, /no expect step was matched \(2 waited in vain\)/],
    ['a scenario that only sends', { accepted: 2, sent: 6, config: { pattern: 'scenario' } }, passed, 0, undefined],
    ['server went away', { accepted: 10, sent: 5, received: 5, endReason: 'idle', dropped: { 1006: 10 } }, passed, 1, /server went away \(10 closed 1006\)/],
    ['interrupted beats everything', { accepted: 0, interrupted: true, endReason: 'interrupted' }, crossed, 130, undefined],
  ];
  it('a lost client process: exit 1 even when interrupted', () => {
    const verdict = runVerdict({ ...fakeResult({ interrupted: true }), missingClientProcesses: [1] });
    assert.equal(verdict.exitCode, 1);
    assert.match(verdict.reasons[0]!, /client process 1 ended without reporting; the result is incomplete/);
  });
  for (const [name, run, thresholds, code, reason] of table) {
    it(`${name}: exit ${code}`, () => {
      const verdict = runVerdict(fakeResult(run), thresholds);
      assert.equal(verdict.exitCode, code, verdict.reasons.join('; '));
      if (reason) assert.match(verdict.reasons.join('\n'), reason);
      else assert.deepEqual(verdict.reasons, []);
    });
  }
});

describe('header redaction', () => {
  it('keeps names, hides values, unless recordHeaders', () => {
    assert.deepEqual(redactHeaders({ headers: { Authorization: 'Bearer x', 'X-A': '' }, recordHeaders: false }), {
      headers: { Authorization: '<redacted>', 'X-A': '<redacted>' },
      recordHeaders: false,
    });
    assert.deepEqual(redactHeaders({ headers: { A: 'b' }, recordHeaders: true }).headers, { A: 'b' });
  });

  it('redacts every spelling of -H on the recorded command line', () => {
    assert.deepEqual(redactHeaderArgs(['blast', '-H', 'A: secret', '--header', 'B:secret', '--header=C: secret', '-HD: secret', '-c', '5'], false), [
      'blast', '-H', 'A: <redacted>', '--header', 'B: <redacted>', '--header=C: <redacted>', '-HD: <redacted>', '-c', '5',
    ]);
    assert.deepEqual(redactHeaderArgs(['-H', 'A: secret'], true), ['-H', 'A: secret']);
  });

  it('redacts the --socketio-auth and --graphql-init payloads on the recorded command line, as headers', () => {
    assert.deepEqual(redactHeaderArgs(['blast', 'ws://h/', '--socketio-auth', '{"token":"s3"}', '--graphql-init={"token":"s3"}', '--event', 'e'], false), [
      'blast', 'ws://h/', '--socketio-auth', '<redacted>', '--graphql-init=<redacted>', '--event', 'e',
    ]);
    assert.deepEqual(redactHeaderArgs(['--socketio-auth', '{"t":1}'], true), ['--socketio-auth', '{"t":1}']);
  });
});
