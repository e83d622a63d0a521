/** Shards split exactly; merging adds counters and histograms and refuses what would not add up. */
import { gatedVerdict, runVerdict } from '../src/gate/verdict.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstConnectionOf } from '../src/config/shard.js';
import { resolveBlastConfig } from '../src/config/blast-config.js';
import { mergeResults } from '../src/gate/merge.js';
import { resultProblem } from '../src/gate/result-schema.js';
import { decodeHistogram } from '../src/metrics/histogram.js';
import { fakeResult, spread } from './helpers/results.js';

describe('--shard i/N', () => {
  it('exact shares of connections, connect rate and handshakes that add up to the totals', () => {
    const shards = [1, 2, 3].map((i) => resolveBlastConfig({ url: 'ws://127.0.0.1:1/', connections: '301', connectRate: '100', maxHandshakes: '10', shard: `${i}/3` }));
    assert.deepEqual(shards.map((s) => s.connections), [101, 100, 100]);
    assert.deepEqual(shards.map((s) => s.maxHandshakes), [4, 3, 3]);
    assert.ok(Math.abs(shards.reduce((n, s) => n + s.connectRate, 0) - 100) < 1e-9);
    assert.deepEqual(shards[1]!.shard, { index: 2, count: 3, totalConnections: 301, totalConnectRate: 100, totalMaxHandshakes: 10, totalPublishers: 0 });
    assert.equal(resolveBlastConfig({}).shard, undefined);
  });

  it("publishers are the run's first connections: 150 of 301 over three shards is 101, 49 and 0", () => {
    const shards = [1, 2, 3].map((i) => resolveBlastConfig({ url: 'ws://127.0.0.1:1/', connections: '301', publishers: '150', shard: `${i}/3` }));
    assert.deepEqual(shards.map((s) => s.publishers), [101, 49, 0]);
    assert.deepEqual(shards.map((s) => firstConnectionOf(s.shard)), [0, 101, 201]);
    assert.equal(shards[2]!.shard!.totalPublishers, 150);
  });

  it('refuses shards that are not i/N with 1 <= i <= N, or more shards than connections', () => {
    for (const text of ['0/3', '4/3', '1/0', 'a/b', '1', '1/3/5']) {
      assert.throws(() => resolveBlastConfig({ shard: text }), new RegExp(`--shard: "${text}" is not valid; expected i/N with 1 <= i <= N <= 10000`));
    }
    assert.throws(() => resolveBlastConfig({ connections: 2, shard: '1/3' }), /--shard: "1\/3" is not valid; -c 2 cannot be split into 3 shards/);
  });
});

describe('merge', () => {
  const shard = (index: number, run: Parameters<typeof fakeResult>[0]) =>
    fakeResult({ ...run, config: { shard: { index, count: 2, totalConnections: 20, totalConnectRate: 0, totalMaxHandshakes: 1000 }, connections: 10, ...run?.config } });
  const a = shard(1, { rttUs: spread(100, 1000, 2000), connectUs: [5000], accepted: 10, rejected: { 503: 1 }, dropped: { 1006: 2 }, sent: 100, received: 100, perSecond: 50 });
  const b = shard(2, { rttUs: spread(100, 3000, 4000), connectUs: [7000], accepted: 8, rejected: { 503: 2, 429: 1 }, failed: { ECONNRESET: 1 }, sent: 80, received: 79, perSecond: 40 });

  it('sums counters, adds histograms, spans the times', () => {
    const merged = mergeResults([{ path: 'a.json', result: a }, { path: 'b.json', result: b }]);
    assert.equal(merged.outcomes.attempted, 23);
    assert.equal(merged.outcomes.accepted, 18);
    assert.deepEqual(merged.outcomes.rejected, { total: 4, byStatus: { 503: 3, 429: 1 } });
    assert.deepEqual(merged.outcomes.failed.byReason, { ECONNRESET: 1 });
    assert.deepEqual(merged.outcomes.dropped, { total: 2, byCloseCode: { 1006: 2 } });
    assert.equal(merged.messages.sent, 180);
    assert.equal(merged.messages.received, 179);
    assert.equal(merged.messages.perSecond, 90);
    const rtt = decodeHistogram(merged.histograms.roundTrip_us);
    assert.equal(rtt.totalCount, 200);
    assert.ok(rtt.getValueAtPercentile(25) < 2100 && rtt.getValueAtPercentile(75) > 2900, 'both shards in the distribution');
    assert.equal(merged.latency.roundTrip.count, 200);
    assert.equal(merged.latency.connect.max_us, decodeHistogram(merged.histograms.connect_us).maxValue);
    assert.equal(merged.config.connections, 20);
    assert.equal(merged.config.shard, null);
    assert.deepEqual(merged.merged.sources.map((s) => [s.file, s.shard?.index]), [['a.json', 1], ['b.json', 2]]);
    assert.equal(merged.durationMs, 2000);
    assert.deepEqual(merged.merged.overlap, { share: 1, togetherMs: 1500, spanMs: 1500 });
    assert.equal(merged.partial, undefined);
  });

  it('adds up --compress: negotiated per connection and bytes; a result without it merges as null; the schema checks it', () => {
    const compression = (negotiated: number, notNegotiated: number) => ({
      offered: 'permessage-deflate; client_max_window_bits', negotiated, notNegotiated,
      bytesBeforeCompression: 1000 * negotiated, bytesAfterCompression: 100 * negotiated, bytesReceivedCompressed: 90 * negotiated, bytesReceivedInflated: 1000 * negotiated,
    });
    const merged = mergeResults([{ path: 'a.json', result: { ...a, compression: compression(10, 0) } }, { path: 'b.json', result: { ...b, compression: compression(6, 2) } }]);
    assert.deepEqual(merged.compression, { ...compression(16, 2), bytesBeforeCompression: 16_000, bytesAfterCompression: 1600, bytesReceivedCompressed: 1440, bytesReceivedInflated: 16_000 });
    assert.equal(mergeResults([{ path: 'a.json', result: a }, { path: 'b.json', result: b }]).compression, null);
    assert.equal(resultProblem({ ...a, compression: compression(10, 0) }), undefined);
    assert.match(resultProblem({ ...a, compression: compression(10, 1) })!, /^compression\.negotiated: expected negotiated \+ notNegotiated at most accepted \(10\), got 11/);
    assert.match(resultProblem({ ...a, compression: { ...compression(1, 0), bytesAfterCompression: -1 } })!, /^compression\.bytesAfterCompression: expected a whole number >= 0/);
  });

  /** A shard whose run phase went from `startS` to `endS` seconds after 12:00:00, on the wall clock. */
  const timed = (index: number, startS: number, endS: number, extra: Parameters<typeof fakeResult>[0] = {}) => {
    const result = shard(index, { connectUs: [1000 + index], ...extra });
    const at = (s: number) => new Date(Date.parse('2025-01-01T12:00:00Z') + s * 1000).toISOString();
    return { ...result, clock: { runStartedAt: at(startS), runEndedAt: at(endS), source: 'tsc' } };
  };

  it("measures how far the shards' run phases overlapped, exactly, and refuses under --min-overlap unless --force", () => {
    // [0 s, 10 s] and [2 s, 12 s]: together 8 s of a 12 s span.
    const sources = [{ path: 'a.json', result: timed(1, 0, 10) }, { path: 'b.json', result: timed(2, 2, 12) }];
    assert.throws(() => mergeResults(sources), /"a\.json b\.json" is not valid; the shards' run phases overlapped 66\.6% \(all running together 8\.0 s of 12\.0 s\), under --min-overlap 95\.0%/);
    const forced = mergeResults(sources, { force: true });
    assert.deepEqual(forced.merged.overlap, { share: 8 / 12, togetherMs: 8000, spanMs: 12_000 });
    assert.equal(forced.runMs, 12_000, 'the merged run spans every run phase');
    assert.equal(forced.clock?.runStartedAt, '2025-01-01T12:00:00.000Z');
    assert.equal(forced.clock?.runEndedAt, '2025-01-01T12:00:12.000Z');
    assert.equal(mergeResults(sources, { minOverlap: 0.6 }).merged.overlap?.togetherMs, 8000);
    // One after the other: no overlap at all.
    const apart = [{ path: 'a.json', result: timed(1, 0, 10) }, { path: 'b.json', result: timed(2, 10, 20) }];
    assert.equal(mergeResults(apart, { force: true }).merged.overlap?.share, 0);
    // Within 100 ms of each other over 60 s: 99.7%, merged.
    const together = [{ path: 'a.json', result: timed(1, 0, 60) }, { path: 'b.json', result: timed(2, 0.1, 60.1) }];
    assert.equal(mergeResults(together).merged.overlap?.togetherMs, 59_900);
    // -d 0: runs of no length have nothing to overlap (within milliseconds of each other, they are not refused).
    const instant = [{ path: 'a.json', result: timed(1, 0, 0) }, { path: 'b.json', result: timed(2, 0.016, 0.016) }];
    assert.equal(mergeResults(instant).merged.overlap, null);
    // A shard without a run phase (its barrier timed out, or it was stopped in its ramp) beside shards that ran: refused.
    const stranded = { ...timed(2, 0, 10), endReason: 'barrier' as const, clock: { runStartedAt: null, runEndedAt: null, source: 'tsc' } };
    assert.throws(() => mergeResults([{ path: 'a.json', result: timed(1, 0, 10) }, { path: 'b.json', result: stranded }]), /"b\.json" is not valid; it has no run phase \(endReason barrier\) while the others ran/);
    assert.doesNotThrow(() => mergeResults([{ path: 'a.json', result: timed(1, 0, 10) }, { path: 'b.json', result: stranded }], { force: true }));
    // Results written before the clock was recorded: the run phase is startedAt + rampMs, for runMs.
    const old = mergeResults([{ path: 'a.json', result: a }, { path: 'b.json', result: { ...b, rampMs: 1000 } }], { force: true }).merged.overlap;
    assert.deepEqual(old, { share: 1000 / 2000, togetherMs: 1000, spanMs: 2000 });
  });

  it('--expect names what is missing; --allow-partial merges what arrived, marked partial', () => {
    assert.throws(() => mergeResults([{ path: 'a.json', result: a }, { path: 'b.json', result: b }], { expect: 3 }), /--expect: 3 is not valid; the results are shards of 2/);
    const partial = mergeResults([{ path: 'b.json', result: b }], { allowPartial: true });
    assert.deepEqual(partial.partial, { expected: 2, missing: ['1/2'] });
    assert.equal(partial.outcomes.attempted, b.outcomes.attempted);
    // Results that are not shards: counted against --expect.
    const runs = [{ path: 'x.json', result: fakeResult({ connectUs: [1] }) }, { path: 'y.json', result: fakeResult({ connectUs: [2] }) }];
    assert.throws(() => mergeResults(runs, { expect: 3 }), /result 3 of 3 missing/);
    assert.deepEqual(mergeResults(runs, { expect: 3, allowPartial: true }).partial, { expected: 3, missing: ['result 3 of 3'] });
    assert.equal(mergeResults(runs, { expect: 2 }).partial, undefined);
    assert.throws(() => mergeResults(runs, { expect: 1 }), /--expect: 1 is not valid; 2 results were given/);
  });

  it('a gate on a partial result exits 1 unless --partial-ok; a barrier that did not release the run exits 1', () => {
    const partial = mergeResults([{ path: 'b.json', result: b }], { allowPartial: true });
    const verdict = gatedVerdict(partial, []);
    assert.equal(verdict.exitCode, 1);
    assert.match(verdict.reasons[0]!, /^the result is partial: 1\/2 missing of 2; it does not account for the whole load/);
    assert.equal(gatedVerdict(partial, [], undefined, { partialOk: true }).exitCode, 0);
    assert.equal(runVerdict(partial).exitCode, 1, 'report and compare judge it the same way');
    assert.equal(runVerdict({ ...b, endReason: 'barrier', sync: { startAt: null, barrier: 'http://x:1/', startWaitMs: 0, startLateByMs: 0, runWaitMs: null, problem: 'timed out' } }).exitCode, 1);
  });

  it('refuses a missing or repeated shard, another config or target, another schemaVersion; --force merges anyway', () => {
    const refusals: [Parameters<typeof mergeResults>[0], RegExp][] = [
      [[{ path: 'a.json', result: a }], /2\/2 missing: the merged result would not account for every connection \(--allow-partial merges what arrived, marked partial\)/],
      [[{ path: 'a.json', result: a }, { path: 'a2.json', result: shard(1, { connectUs: [6000], accepted: 1 }) }], /"a2\.json" is not valid; shard 1\/2 is there twice/],
      [[{ path: 'a.json', result: a }, { path: 'c.json', result: shard(2, { config: { rate: 5 } }) }], /"c\.json" is not valid; its config differs from a\.json in rate/],
      [[{ path: 'a.json', result: a }, { path: 'c.json', result: { ...b, target: { url: 'ws://elsewhere/', ownServer: false } } }], /target ws:\/\/elsewhere\/ is not ws:\/\/127\.0\.0\.1:8000\/ws/],
      [[{ path: 'a.json', result: a }, { path: 'v1.json', result: { ...b, schemaVersion: 1 } }], /"v1\.json" is not valid; schemaVersion 1; merge takes schemaVersion 2 results/],
      [[{ path: 'a.json', result: a }, { path: 'n.json', result: fakeResult() }], /"n\.json" is not valid; it is not a shard, and the others are/],
    ];
    for (const [sources, pattern] of refusals) {
      assert.throws(() => mergeResults(sources), pattern);
      assert.doesNotThrow(() => mergeResults(sources, { force: true }));
    }
    assert.equal(mergeResults([{ path: 'a.json', result: a }], { force: true }).merged.forced, true);
    // --force merges an incomplete set, and says it is partial.
    assert.deepEqual(mergeResults([{ path: 'a.json', result: a }], { force: true }).partial, { expected: 2, missing: ['2/2'] });
    // The same run twice would double every count: refused even with --force.
    for (const force of [false, true]) {
      assert.throws(() => mergeResults([{ path: 'a.json', result: a }, { path: 'a2.json', result: a }], { force }), /"a2\.json" is not valid; it is the same run as a\.json/);
    }
  });
});
