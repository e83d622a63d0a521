/**
 * wsbench find, run as users run it: it finds serve's cap, stops as "limited by the generator" when
 * a client process is starved, gates its answer, and refuses bad input before any connection. The
 * search's arithmetic is checked on a known capacity without a server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FindResult } from '../src/find/find.js';
import { searchCapacity } from '../src/find/search.js';
import { retarget } from '../src/blast/coordinator.js';
import { decodeHistogram } from '../src/metrics/histogram.js';
import { runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-find-'));

describe('wsbench find', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  before(async () => {
    server = await startServeCli(['--max', '300', '--workers', '1']);
  });
  after(async () => {
    await stop(server);
  });

  it("finds serve's --max: the 503s past it make the step's failed ratio jump", async () => {
    const out = join(scratch, 'find.json');
    const args = ['find', server.url, '-c', '50..2000', '--until', 'failed:ratio<0.001', '--step-duration', '2s', '-o', out, '--report', 'html', '--threshold', 'capacity:count>=250'];
    let run = await runCliToEnd(args);
    // On a shared machine another program may starve blast for a while: find then says so (exit 1,
    // "limited by the generator") instead of answering, as it should. Up to twice more, then it counts.
    for (let retry = 0; retry < 2 && run.code === 1 && /limited by the generator/.test(run.stderr); retry++) run = await runCliToEnd(args);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(readFileSync(out, 'utf8')) as FindResult;
    const count = result.capacity.count!;
    assert.ok(count <= 300 && count >= 285, `capacity ${count}: within 5% under the cap of 300`);
    assert.ok(result.capacity.firstFailed! > 300 && result.capacity.firstFailed! - count <= 0.05 * result.capacity.firstFailed!);
    assert.equal(result.capacity.stoppedBy, 'precision');
    assert.deepEqual(result.steps.slice(0, 4).map((s) => s.load), [50, 100, 200, 400], 'geometric steps, ×2');
    for (const step of result.steps) {
      assert.equal(step.verdict, step.load <= 300 ? 'held' : 'failed', `step at ${step.load}`);
      if (step.load > 300) assert.ok(step.connections.refused > 0, 'refused past the cap');
      assert.equal(decodeHistogram(step.histograms.roundTrip_us).totalCount, step.latency.roundTrip.count, "each step's own histogram is in the result");
    }
    assert.match(run.stdout, new RegExp(`Capacity: ${count} connections held; \\d+ did not \\(within 5%, \\d+ steps\\)`));
    assert.match(run.stdout, /ok {3}capacity:count>=250 \(observed \d+\)/);
    assert.ok(existsSync(join(scratch, 'find.html')), 'the capacity curve');
    assert.match(readFileSync(join(scratch, 'find.html'), 'utf8'), /<svg[^>]*aria-label="capacity curve"/);
    // The whole run is there too, as blast reports it, every attempt accounted for.
    assert.equal(result.run.outcomes.attempted, result.run.outcomes.accepted + result.run.outcomes.rejected.total + result.run.outcomes.failed.total);
    const gated = await runCliToEnd(['find', server.url, '-c', '100..400', '--until', 'failed:ratio<0.001', '--step-duration', '1s', '--no-save', '-q', '--threshold', 'capacity:count>=1000']);
    assert.equal(gated.code, 99, gated.stderr);
    assert.match(gated.stderr, /threshold crossed: capacity:count>=1000/);
  });

  it('a step whose client process is starved is "limited by the generator": the search stops there, exit 1', async () => {
    // A server of its own: the cap of the other tests' server is exact.
    const own = await startServeCli(['--max', '1000', '--workers', '1']);
    const run = await runCliToEnd(['find', own.url, '-c', '20..200', '--until', 'failed:ratio<0.5', '--step-duration', '2s', '--json', '--no-save'], {
      env: { WSBENCH_CLIENT_BUSY: '80' },
    }).finally(() => stop(own));
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /limited by the generator at 20: a client process was busy, so that step measured blast, not the server/);
    const result = JSON.parse(run.stdout) as FindResult;
    assert.equal(result.capacity.stoppedBy, 'generator-limited');
    assert.equal(result.steps.length, 1, 'the search stopped at the first limited step');
    assert.equal(result.steps[0]!.generator.busy, true);
  });

  it('a server that goes away during the search: the run ends by itself, exit 1, and no capacity is claimed', async () => {
    const own = await startServeCli(['--max', '1000', '--workers', '1']);
    const run = runCli(['find', own.url, '-c', '20..2000', '--until', 'failed:ratio<0.5', '--step-duration', '1s', '--no-save']);
    await run.waitForStderr(/step 2: .* held/, 30_000);
    await stop(own);
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr);
    assert.match(run.stderr, /^wsbench: the run ended by itself \(endReason idle\) after step \d+; no capacity is claimed \(the server had held \d+\)$/m);
    assert.match(run.stdout, /The run ended by itself \(endReason idle\) after step \d+: no capacity found/);
    assert.doesNotMatch(run.stdout, /Capacity:/);
  });

  it('more client processes than connections at the start: every process still finishes its ramp', async () => {
    const run = await runCliToEnd(['find', server.url, '-c', '2..8', '-w', '4', '--until', 'failed:ratio<0.5', '--step-duration', '1s', '--json', '--no-save'], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as FindResult;
    assert.deepEqual(result.steps.map((s) => s.load), [2, 4, 8]);
    assert.equal(result.capacity.stoppedBy, 'upper-bound');
  });

  it('refuses bad input before any connection (exit 2, one line)', async () => {
    for (const [args, pattern] of [
      [['--until', 'rtt:p(99)<<5'], /^wsbench: --until: "rtt:p\(99\)<<5" is not valid/],
      [[], /^wsbench: --until: "" is not valid; expected at least one threshold/],
      [['--until', 'failed:ratio<0.01', '-c', '100..10'], /^wsbench: -c, --connections: "100\.\.10" is not valid; expected a range FROM\.\.TO/],
      [['--until', 'failed:ratio<0.01', '--precision', '150%'], /^wsbench: --precision: "150%" is not valid/],
      [['--until', 'failed:ratio<0.01', '--threshold', 'rtt:p(99)<5ms'], /^wsbench: --threshold: "rtt:p\(99\)<5ms" is not valid; find gates its answer: capacity:count/],
    ] as const) {
      const run = await runCliToEnd(['find', server.url, ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    }
    const blast = await runCliToEnd(['blast', server.url, '--threshold', 'capacity:count>=5']);
    assert.equal(blast.code, 2);
    assert.match(blast.stderr, /capacity is the answer of wsbench find/);
  });

  it('a step moves only the difference: each process keeps what it holds', () => {
    assert.deepEqual(retarget([160, 140], [1000, 1000], 300), [160, 140], 'nothing to move');
    assert.deepEqual(retarget([160, 140], [1000, 1000], 310), [165, 145]);
    assert.deepEqual(retarget([160, 140], [1000, 1000], 290), [150, 140], 'the process holding the most closes');
    assert.deepEqual(retarget([90, 10], [100, 100], 200), [100, 100], 'no process past its most');
  });

  it('the search: ×growth while steps hold, then bisect to the precision; the first step failing; the upper bound', async () => {
    const judged: number[] = [];
    const capacity = (cap: number) => async (load: number) => (judged.push(load), load <= cap ? ('held' as const) : ('failed' as const));
    const options = { from: 1000, to: 100_000, growth: 2, precision: 0.05, integer: true };
    const found = await searchCapacity(options, capacity(20_000));
    assert.deepEqual(judged.slice(0, 6), [1000, 2000, 4000, 8000, 16_000, 32_000]);
    assert.ok(found.held! <= 20_000 && found.failed! > 20_000 && found.failed! - found.held! <= 0.05 * found.failed!, JSON.stringify(found));
    assert.equal(found.stoppedBy, 'precision');
    assert.deepEqual(await searchCapacity(options, capacity(10)), { held: null, failed: 1000, stoppedBy: 'first-step-failed', limitedAt: null });
    assert.deepEqual(await searchCapacity(options, capacity(1e9)), { held: 100_000, failed: null, stoppedBy: 'upper-bound', limitedAt: null });
    assert.deepEqual(await searchCapacity(options, async (load) => (load >= 4000 ? 'generator-limited' : 'held')), { held: 2000, failed: null, stoppedBy: 'generator-limited', limitedAt: 4000 });
  });
});
