/** Shards split exactly; merging adds counters and histograms and refuses what would not add up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstConnectionOf } from '../src/config/shard.js';
import { resolveBlastConfig } from '../src/config/blast-config.js';
import { mergeResults } from '../src/gate/merge.js';
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
  });

  it('refuses a missing or repeated shard, another config or target, another schemaVersion; --force merges anyway', () => {
    const refusals: [Parameters<typeof mergeResults>[0], RegExp][] = [
      [[{ path: 'a.json', result: a }], /shard 2\/2 missing: the merged result would not account for every connection \(--force merges anyway\)/],
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
    // The same run twice would double every count: refused even with --force.
    for (const force of [false, true]) {
      assert.throws(() => mergeResults([{ path: 'a.json', result: a }, { path: 'a2.json', result: a }], { force }), /"a2\.json" is not valid; it is the same run as a\.json/);
    }
  });
});
