/** Comparing results: figures from the histograms, the gated ones judged in their bad direction. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareResults, parseMaxRegression } from '../src/gate/compare.js';
import { fakeResult, spread } from './helpers/results.js';

describe('compare', () => {
  const baseline = fakeResult({ connectUs: spread(100, 1000, 2000), rttUs: spread(1000, 1000, 10_000), accepted: 100, perSecond: 1000 });
  const figure = (comparison: ReturnType<typeof compareResults>, key: string) => comparison.figures.find((f) => f.key === key)!;

  it('the same result: no change, no regression', () => {
    const comparison = compareResults(baseline, baseline);
    assert.equal(comparison.ok, true);
    assert.ok(comparison.figures.every((f) => f.changePercent === 0), JSON.stringify(comparison.figures));
    assert.deepEqual(comparison.figures.filter((f) => f.gated).map((f) => f.key), ['connect_p99_us', 'rtt_p99_us', 'messages_per_second', 'accepted', 'failed']);
  });

  it('a made-up regression: rtt twice as slow, 15% fewer msg/s, one failure; 5% fewer accepted is within 10%', () => {
    const current = fakeResult({ connectUs: spread(100, 1000, 2000), rttUs: spread(1000, 2000, 20_000), accepted: 95, failed: { ECONNRESET: 1 }, perSecond: 850 });
    const comparison = compareResults(baseline, current, { maxRegressionPercent: 10 });
    assert.equal(comparison.ok, false);
    assert.deepEqual(comparison.figures.filter((f) => f.regressed).map((f) => f.key), ['rtt_p99_us', 'messages_per_second', 'failed']);
    const p99 = figure(comparison, 'rtt_p99_us');
    assert.ok(p99.changePercent! > 95 && p99.changePercent! < 105, `rtt p99 change ${p99.changePercent}`);
    assert.equal(figure(comparison, 'messages_per_second').changePercent, -15);
    assert.equal(figure(comparison, 'accepted').regressed, false);
    assert.equal(figure(comparison, 'failed').changePercent, null, 'from 0: no percentage');
    // Ungated figures change but never regress.
    assert.equal(figure(comparison, 'rtt_p50_us').regressed, false);
    // With a wide tolerance only the failure from 0 remains.
    assert.deepEqual(compareResults(baseline, current, { maxRegressionPercent: 200 }).figures.filter((f) => f.regressed).map((f) => f.key), ['failed']);
  });

  it('improvements never regress; no samples now (but before) does', () => {
    const better = fakeResult({ connectUs: [500], rttUs: [500], accepted: 200, perSecond: 5000 });
    assert.equal(compareResults(baseline, better).ok, true);
    const silent = fakeResult({ connectUs: spread(100, 1000, 2000), accepted: 100, perSecond: 1000 });
    const comparison = compareResults(baseline, silent);
    assert.deepEqual([figure(comparison, 'rtt_p99_us').regressed, figure(comparison, 'rtt_p99_us').note], [true, 'no samples']);
    const fromSilent = compareResults(silent, baseline);
    assert.deepEqual([figure(fromSilent, 'rtt_p99_us').regressed, figure(fromSilent, 'rtt_p99_us').note], [false, 'no samples in the baseline']);
  });

  it('--max-regression takes 10% or 10', () => {
    assert.equal(parseMaxRegression('10%'), 10);
    assert.equal(parseMaxRegression('2.5'), 2.5);
    assert.equal(parseMaxRegression(undefined), 10);
    assert.throws(() => parseMaxRegression('-5%'), /--max-regression: "-5%" is not valid; expected a percentage from 0% to 1000%/);
  });
});
