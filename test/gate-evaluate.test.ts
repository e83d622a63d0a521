/** Threshold evaluation on results with known histograms and counters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../src/gate/evaluate.js';
import { fakeResult, spread } from './helpers/results.js';

describe('threshold evaluation', () => {
  // 1,000 round trips from 1 ms to 100 ms: p(50) ≈ 50.5 ms, p(99) ≈ 99 ms.
  const result = fakeResult({
    connectUs: spread(100, 1000, 2000),
    rttUs: spread(1000, 1000, 100_000),
    attempted: 1000,
    accepted: 900,
    rejected: { 503: 80 },
    failed: { ECONNRESET: 20 },
    dropped: { 1006: 9 },
    sent: 2000,
    received: 1990,
    unanswered: 10,
    perSecond: 1327,
    runMs: 1500,
  });

  it('latency from the histograms, in µs, against limits in any unit', () => {
    const outcomes = evaluate(result, ['rtt:p(99)<100ms', 'rtt:p(99)<90ms', 'rtt:med>50ms', 'rtt:max<=100.1ms', 'rtt:min<1001us', 'connect:p(95)<2ms', 'rtt:avg<51ms', 'rtt:stdev>20ms']);
    assert.deepEqual(outcomes.map((o) => o.ok), [true, false, true, true, true, true, true, true]);
    const p99 = outcomes[0]!;
    assert.equal(p99.unit, 'us');
    assert.equal(p99.limit, 100_000);
    assert.ok(p99.observed! > 98_000 && p99.observed! < 100_000, `p99 ${p99.observed}`);
  });

  it('decodes the histograms rather than trusting the summaries', () => {
    // Summaries that lie: the histograms still decide.
    const lying = { ...result, latency: { ...result.latency, roundTrip: { ...result.latency.roundTrip, p99_us: 1 } } };
    assert.equal(evaluate(lying, ['rtt:p(99)<1ms'])[0]!.ok, false);
  });

  it('counters: count, rate per second of the run phase, ratio of attempted or of messages sent', () => {
    const outcomes = evaluate(result, [
      'accepted:count==900',
      'rejected:count==80',
      'failed:count==0',
      'attempted:count>=1k',
      'dropped:ratio<0.01',
      'dropped:ratio<0.9%',
      'failed:ratio==0.02',
      'unanswered:ratio==0.005',
      'messages:rate>=1327',
      'sent:rate>1333',
      'accepted:rate==600',
    ]);
    assert.deepEqual(outcomes.map((o) => [o.expression, o.ok, o.observed]), [
      ['accepted:count==900', true, 900],
      ['rejected:count==80', true, 80],
      ['failed:count==0', false, 20],
      ['attempted:count>=1k', true, 1000],
      ['dropped:ratio<0.01', true, 0.009],
      ['dropped:ratio<0.9%', false, 0.009],
      ['failed:ratio==0.02', true, 0.02],
      ['unanswered:ratio==0.005', true, 0.005],
      ['messages:rate>=1327', true, 1327],
      ['sent:rate>1333', true, (2000 * 1000) / 1500],
      ['accepted:rate==600', true, 600],
    ]);
  });

  it('a metric with no samples is still evaluated: counters are 0, latency is null and fails any bound', () => {
    const idle = fakeResult({ accepted: 10, sent: 0, received: 0 });
    const outcomes = evaluate(idle, ['rtt:p(99)<1h'.replace('1h', '3600s'), 'rtt:p(99)>0', 'rtt{phase:ramp}:max!=5ms', 'messages:count==0', 'mismatched:ratio<0.5']);
    assert.deepEqual(outcomes.map((o) => [o.ok, o.observed, o.note]), [
      [false, null, 'no samples'],
      [false, null, 'no samples'],
      [false, null, 'no samples'],
      [true, 0, undefined],
      [false, null, 'no samples (0 messages sent)'],
    ]);
  });

  it('rtt{phase:ramp} reads the ramp histogram, rtt the run one', () => {
    const phased = fakeResult({ rttUs: [1000, 1000], rampRttUs: [500_000, 600_000] });
    const [ramp, run] = evaluate(phased, ['rtt{phase:ramp}:p(99)<100ms', 'rtt{phase:run}:p(99)<100ms']);
    assert.equal(ramp!.ok, false);
    assert.ok(ramp!.observed! >= 599_000);
    assert.equal(run!.ok, true);
  });

  it('rate without a run phase is null and fails', () => {
    const [outcome] = evaluate(fakeResult({ runMs: null }), ['accepted:rate>=0']);
    assert.deepEqual([outcome!.ok, outcome!.observed, outcome!.note], [false, null, 'no run phase to divide by']);
  });

  it('a bad expression is a ConfigError before anything is evaluated', () => {
    assert.throws(() => evaluate(result, ['rtt:p(99)<1ms', 'rtt:p(99)<1 parsec']), /--threshold: "rtt:p\(99\)<1 parsec" is not valid/);
  });
});
