/** blast --shard i/N in N real processes against one serve, then wsbench merge: every connection accounted for. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import type { MergedResult } from '../src/gate/merge.js';
import { decodeHistogram } from '../src/metrics/histogram.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-merge-'));
const shardFiles = [1, 2, 3].map((i) => join(scratch, `shard-${i}.json`));

describe('wsbench blast --shard and wsbench merge (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  before(async () => {
    // 301 connections in 3 shards (101 + 100 + 100) against one server.
    server = await startServeCli(['--max', '400', '--workers', '1']);
    const runs = await Promise.all(
      shardFiles.map((out, i) => runCliToEnd(['blast', server.url, '-c', '301', '--shard', `${i + 1}/3`, '-d', '1s', '--quiet', '--out', out])),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
  });
  after(async () => {
    await stop(server);
  });

  it('each shard ran its exact share and says which shard it was', () => {
    const shards = shardFiles.map((file) => JSON.parse(readFileSync(file, 'utf8')) as GatedResult);
    assert.deepEqual(shards.map((s) => s.outcomes.attempted), [101, 100, 100]);
    assert.deepEqual(shards.map((s) => (s.config.shard as { index: number }).index), [1, 2, 3]);
    assert.deepEqual(shards.map((s) => s.config.connections), [101, 100, 100]);
  });

  it('the merged result accounts for every connection; thresholds on it hold (exit 0) or not (exit 99)', async () => {
    const out = join(scratch, 'merged.json');
    const run = await runCliToEnd(['merge', ...shardFiles, '-o', out, '--threshold', 'attempted:count==301', '--threshold', 'accepted:count==301', '--threshold', 'failed:count==0']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Thresholds: 3 of 3 passed\n/);
    assert.match(run.stdout, /Merged 3 results: .*shard-1\.json \(shard 1\/3\), .*shard-2\.json \(shard 2\/3\), .*shard-3\.json \(shard 3\/3\)/);
    assert.match(run.stdout, /attempted 301 {2}accepted 301 {2}rejected 0 {2}failed 0/);
    const merged = JSON.parse(readFileSync(out, 'utf8')) as GatedResult<MergedResult>;
    assert.equal(merged.outcomes.attempted, 301);
    assert.equal(merged.outcomes.accepted, 301);
    assert.equal(merged.outcomes.attempted, merged.outcomes.accepted + merged.outcomes.rejected.total + merged.outcomes.failed.total);
    assert.equal(decodeHistogram(merged.histograms.connect_us).totalCount, 301, 'one connect sample per accepted connection');
    assert.equal(merged.latency.connect.count, 301);
    const shards = shardFiles.map((file) => JSON.parse(readFileSync(file, 'utf8')) as GatedResult);
    assert.equal(merged.messages.received, shards.reduce((n, s) => n + s.messages.received, 0));
    assert.equal(decodeHistogram(merged.histograms.roundTrip_us).totalCount, shards.reduce((n, s) => n + s.latency.roundTrip.count, 0));
    assert.equal(merged.config.connections, 301);
    assert.equal(merged.config.shard, null);
    assert.ok(merged.plan.sourceAddresses.length >= 3, `each shard from its own source addresses: ${merged.plan.sourceAddresses.join(', ')}`);
    assert.equal(merged.schemaVersion, 2);

    const gated = await runCliToEnd(['merge', ...shardFiles, '--json', '--threshold', 'accepted:count<301']);
    assert.equal(gated.code, 99, gated.stderr);
    assert.deepEqual((JSON.parse(gated.stdout) as GatedResult).thresholds.map((t) => [t.ok, t.observed]), [[false, 301]]);

    // The merged result can be compared like any other.
    const compared = await runCliToEnd(['compare', out, out]);
    assert.equal(compared.code, 0, compared.stderr);
  });

  it('refuses an incomplete set of shards (exit 2) unless --force', async () => {
    const refused = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[1]!]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^wsbench: merge: ".*" is not valid; shard 3\/3 missing: the merged result would not account for every connection \(--force merges anyway\)\n$/);
    const forced = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[1]!, '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    const merged = JSON.parse(forced.stdout) as MergedResult;
    assert.equal(merged.outcomes.attempted, 201);
    assert.equal(merged.merged.forced, true);
  });
});
