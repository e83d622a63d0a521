/** The threshold language: what parses to what, and what is refused with which message. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/config/errors.js';
import { parseThreshold } from '../src/gate/thresholds.js';

describe('threshold grammar', () => {
  const good: [string, { metric: string; phase?: string; aggregation: object; op: string; limit: number }][] = [
    ['rtt:p(99)<50ms', { metric: 'rtt', aggregation: { kind: 'percentile', percentile: 99 }, op: '<', limit: 50_000 }],
    ['rtt:p(99.9)<=2s', { metric: 'rtt', aggregation: { kind: 'percentile', percentile: 99.9 }, op: '<=', limit: 2_000_000 }],
    ['rtt:p(99)<50', { metric: 'rtt', aggregation: { kind: 'percentile', percentile: 99 }, op: '<', limit: 50_000 }], // a bare number is ms
    ['rtt:med<500us', { metric: 'rtt', aggregation: { kind: 'med' }, op: '<', limit: 500 }],
    ['rtt : avg < 1.5 ms', { metric: 'rtt', aggregation: { kind: 'avg' }, op: '<', limit: 1500 }],
    ['connect:p(95)<200ms', { metric: 'connect', aggregation: { kind: 'percentile', percentile: 95 }, op: '<', limit: 200_000 }],
    ['connect:max!=0', { metric: 'connect', aggregation: { kind: 'max' }, op: '!=', limit: 0 }],
    ['connect:min>=1us', { metric: 'connect', aggregation: { kind: 'min' }, op: '>=', limit: 1 }],
    ['rtt:stdev<10ms', { metric: 'rtt', aggregation: { kind: 'stdev' }, op: '<', limit: 10_000 }],
    ['rtt{phase:ramp}:p(99)<1s', { metric: 'rtt', phase: 'ramp', aggregation: { kind: 'percentile', percentile: 99 }, op: '<', limit: 1_000_000 }],
    ['rtt{phase:run}:p(0)>0', { metric: 'rtt', phase: 'run', aggregation: { kind: 'percentile', percentile: 0 }, op: '>', limit: 0 }],
    ['accepted:count>=10k', { metric: 'accepted', aggregation: { kind: 'count' }, op: '>=', limit: 10_000 }],
    ['rejected:count==40000', { metric: 'rejected', aggregation: { kind: 'count' }, op: '==', limit: 40_000 }],
    ['failed:count==0', { metric: 'failed', aggregation: { kind: 'count' }, op: '==', limit: 0 }],
    ['dropped:ratio<0.01', { metric: 'dropped', aggregation: { kind: 'ratio' }, op: '<', limit: 0.01 }],
    ['dropped:ratio<1%', { metric: 'dropped', aggregation: { kind: 'ratio' }, op: '<', limit: 0.01 }],
    ['messages:rate>=50000', { metric: 'messages', aggregation: { kind: 'rate' }, op: '>=', limit: 50_000 }],
    ['sent:rate>1.5m', { metric: 'sent', aggregation: { kind: 'rate' }, op: '>', limit: 1_500_000 }],
    ['attempted:count>=1M', { metric: 'attempted', aggregation: { kind: 'count' }, op: '>=', limit: 1_000_000 }],
    ['unanswered:count<=5', { metric: 'unanswered', aggregation: { kind: 'count' }, op: '<=', limit: 5 }],
    ['mismatched:ratio==0', { metric: 'mismatched', aggregation: { kind: 'ratio' }, op: '==', limit: 0 }],
    ['RTT:P(99)<50MS', { metric: 'rtt', aggregation: { kind: 'percentile', percentile: 99 }, op: '<', limit: 50_000 }],
  ];
  for (const [expression, expected] of good) {
    it(`parses ${expression}`, () => {
      const parsed = parseThreshold(expression);
      assert.equal(parsed.metric, expected.metric);
      assert.equal(parsed.phase, expected.phase ?? 'run');
      assert.deepEqual(parsed.aggregation, expected.aggregation);
      assert.equal(parsed.op, expected.op);
      assert.ok(Math.abs(parsed.limit - expected.limit) < 1e-9, `limit ${parsed.limit}`);
      assert.equal(parsed.expression, expression.trim());
    });
  }

  const bad: [string, RegExp][] = [
    ['', /expected metric\[\{phase:ramp\|run\}\]:aggregation op value/],
    ['rtt:p(99)', /expected metric\[\{phase:ramp\|run\}\]:aggregation op value/],
    ['rtt p(99)<50ms', /expected metric/],
    ['latency:p(99)<50ms', /unknown metric "latency"; valid metrics: rtt, reply, delivery, connect, reconnect_time, handshake2, attempted, accepted, rejected, failed, dropped, connects, reconnects, churned, capacity, messages, sent, unanswered, mismatched, unmatched, duplicates, fanout/],
    ['rtt:p99<50ms', /rtt takes min, max, avg, med, stdev, p\(N\), not "p99"/],
    ['rtt:count<5', /rtt takes min, max, avg, med, stdev, p\(N\), not "count"/],
    ['rtt:p(101)<5ms', /p\(N\) takes a percentile N from 0 to 100/],
    ['rtt:p(x)<5ms', /p\(N\) takes a percentile N from 0 to 100/],
    ['rtt:p()<5ms', /p\(N\) takes a percentile N from 0 to 100/],
    ['failed:p(99)<5', /failed takes count, rate, ratio, not "p\(99\)"/],
    ['failed:avg<5', /failed takes count, rate, ratio, not "avg"/],
    ['rtt:p(99)<5h', /unknown unit "h" for rtt:p\(99\); expected a duration in us, ms or s \(a bare number is ms\)/],
    ['rtt:p(99)<5m', /unknown unit "m" for rtt:p\(99\)/],
    ['failed:count<5ms', /unknown unit "ms" for failed:count; expected a number, with k or m allowed/],
    ['dropped:ratio<5k', /unknown unit "k" for dropped:ratio; expected a fraction such as 0.01, or a percentage such as 1%/],
    ['rtt:p(99)<fast', /expected a duration in us, ms or s .* after the operator, not "fast"/],
    ['rtt:p(99)<-5ms', /after the operator, not "-5ms"/],
    ['rtt:p(99)=<5ms', /after the operator, not "<5ms"|expected metric/],
    ['rtt{phase:hold}:p(99)<1s', /unknown phase "hold"; valid phases: ramp, run/],
    ['rtt{stage:ramp}:p(99)<1s', /unknown tag \{stage:ramp\}; the only tag is \{phase:ramp\} or \{phase:run\}/],
    ['connect{phase:ramp}:p(99)<1s', /\{phase:...\} applies to rtt, reply and delivery only; connect has no phases/],
    ['failed{phase:run}:count==0', /\{phase:...\} applies to rtt, reply and delivery only; failed has no phases/],
  ];
  for (const [expression, pattern] of bad) {
    it(`refuses ${JSON.stringify(expression)}`, () => {
      assert.throws(
        () => parseThreshold(expression),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.exitCode, 2);
          assert.match(error.message, new RegExp(`^--threshold: ${JSON.stringify(expression).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid; `));
          assert.match(error.message, pattern);
          assert.ok(!error.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  }

  it('names where an expression came from', () => {
    assert.throws(() => parseThreshold('nope', '--thresholds t.json [3]'), /--thresholds t\.json \[3\]: "nope" is not valid/);
  });
});
