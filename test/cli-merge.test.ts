/** blast --shard i/N in N real processes against one serve, then wsbench merge: every connection accounted for. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import type { MergedResult } from '../src/gate/merge.js';
import { decodeHistogram } from '../src/metrics/histogram.js';
import { freePort, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-merge-'));
const shardFiles = [1, 2, 3].map((i) => join(scratch, `shard-${i}.json`));

describe('wsbench blast --shard and wsbench merge (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  before(async () => {
    // 301 connections in 3 shards (101 + 100 + 100) against one server.
    server = await startServeCli(['--max', '400', '--workers', '1']);
    // Through a barrier, as shards on several machines would: their run phases then overlap.
    const barrier = `http://127.0.0.1:${await freePort()}`;
    const runs = await Promise.all(
      shardFiles.map((out, i) => runCliToEnd(['blast', server.url, '-c', '301', '--shard', `${i + 1}/3`, '-d', '3s', '--quiet', '--out', out, '--barrier', barrier])),
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

  it('refuses an incomplete set of shards (exit 2); --force merges it, marked partial', async () => {
    const refused = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[1]!]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^wsbench: merge: ".*" is not valid; 3\/3 missing: the merged result would not account for every connection \(--allow-partial merges what arrived, marked partial\)\n$/);
    // --force merges them, and the result says it is partial: a gate on it exits 1.
    const forced = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[1]!, '--force', '--json']);
    assert.equal(forced.code, 1, forced.stderr);
    const merged = JSON.parse(forced.stdout) as MergedResult;
    assert.equal(merged.outcomes.attempted, 201);
    assert.equal(merged.merged.forced, true);
    assert.deepEqual(merged.partial, { expected: 3, missing: ['3/3'] });
  });

  it('--allow-partial writes a result marked partial: exit 1, first line of every report, unless --partial-ok', async () => {
    const out = join(scratch, 'partial.json');
    const partial = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[2]!, '--expect', '3', '--allow-partial', '-o', out, '--report', 'md,junit']);
    assert.equal(partial.code, 1, partial.stderr);
    assert.match(partial.stdout, /^PARTIAL: 2\/3 missing of 3\n/);
    assert.match(partial.stderr, /^wsbench: the result is partial: 2\/3 missing of 3; it does not account for the whole load/m);
    const written = JSON.parse(readFileSync(out, 'utf8')) as MergedResult;
    assert.deepEqual(written.partial, { expected: 3, missing: ['2/3'] });
    assert.equal(written.outcomes.attempted, 201);
    assert.match(readFileSync(out.replace(/\.json$/, '.md'), 'utf8').split('\n')[0]!, /FAIL \(exit 1\) · PARTIAL RESULT: 2\/3 missing of 3/);
    assert.match(readFileSync(out.replace(/\.json$/, '.junit.xml'), 'utf8'), /testsuite name="PARTIAL \(2\/3 missing\) wsbench blast/);
    const ok = await runCliToEnd(['merge', shardFiles[0]!, shardFiles[2]!, '--allow-partial', '--partial-ok', '--threshold', 'failed:count==0', '--quiet']);
    assert.equal(ok.code, 0, ok.stderr);
    // Another command on the partial file: the same answer.
    assert.equal((await runCliToEnd(['compare', out, out])).code, 1);
    assert.equal((await runCliToEnd(['compare', out, out, '--partial-ok'])).code, 0);
    assert.equal((await runCliToEnd(['merge', ...shardFiles, '--expect', '4'])).code, 2);
  });

  it("the shards' run phases overlapped: the barrier started them together", async () => {
    const run = await runCliToEnd(['merge', ...shardFiles, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const merged = JSON.parse(run.stdout) as MergedResult;
    assert.ok(merged.merged.overlap!.share >= 0.95, `overlap ${JSON.stringify(merged.merged.overlap)}`);
    const shards = shardFiles.map((file) => JSON.parse(readFileSync(file, 'utf8')) as GatedResult);
    for (const s of shards) assert.ok(s.sync?.barrier && s.clock?.runStartedAt, 'each shard records its barrier and its run on the wall clock');
  });
});
