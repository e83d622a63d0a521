/** wsbench compare and blast --baseline with the real binary, against real results made worse or better. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import { createHistogram, decodeHistogram, encodeHistogram } from '../src/metrics/histogram.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-compare-'));

/** Roughly the same distribution with every value multiplied by `factor` (rebuilt from 1,000 quantiles). */
function scaled(encoded: string, factor: number): string {
  const source = decodeHistogram(encoded);
  const target = createHistogram();
  const per = Math.max(1, Math.round(source.totalCount / 1000));
  for (let i = 1; i <= 1000; i++) target.recordValueWithCount(Math.max(1, Math.round(source.getValueAtPercentile(i / 10) * factor)), per);
  return encodeHistogram(target);
}

describe('wsbench compare (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  const real = join(scratch, 'real.json');
  const worse = join(scratch, 'worse.json');
  const better = join(scratch, 'better.json');
  before(async () => {
    server = await startServeCli(['--max', '20', '--workers', '1']);
    const run = await runCliToEnd(['blast', server.url, '-c', '10', '-d', '1s', '--quiet', '--out', real]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(readFileSync(real, 'utf8')) as BlastResult;
    assert.ok(result.messages.received > 0);
    // Worse: round trips and connects 10x slower, a tenth of the throughput. Better: 100x faster,
    // 100x the throughput. A new run of 1 s varies by 2x or more on a shared machine, and "much worse"
    // must stay worse in every gated figure (connect latency too) for the gate at 0% to pass.
    const edit = (factor: number, throughput: number): BlastResult => ({
      ...result,
      messages: { ...result.messages, perSecond: Math.round(result.messages.perSecond * throughput) },
      histograms: { ...result.histograms, roundTrip_us: scaled(result.histograms.roundTrip_us, factor), connect_us: scaled(result.histograms.connect_us, factor) },
    });
    writeFileSync(worse, JSON.stringify(edit(10, 0.1)));
    writeFileSync(better, JSON.stringify(edit(0.01, 100)));
  });
  after(async () => {
    await stop(server);
  });

  it('a result against itself: exit 0, every change 0.0%', async () => {
    const run = await runCliToEnd(['compare', real, real]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /no regression/);
    assert.match(run.stdout, /rtt p99 +\d+\.\d\d ms +\d+\.\d\d ms +0\.0% +ok/);
    assert.equal(run.stderr, '');
  });

  it('a made-up regression: connect p99, rtt p99 and msg/s REGRESSED, exit 99; the other way round, exit 0', async () => {
    const run = await runCliToEnd(['compare', real, worse, '--max-regression', '20%']);
    assert.equal(run.code, 99, run.stderr);
    assert.match(run.stdout, /rtt p99 .* REGRESSED/);
    assert.match(run.stdout, /msg\/s .* -90\.0% +REGRESSED/);
    assert.match(run.stdout, /accepted .* 0\.0% +ok/);
    assert.equal(run.stderr, `wsbench: regressed against ${real} by more than 20%: connect p99, rtt p99, msg/s\n`);
    const json = await runCliToEnd(['compare', real, worse, '--json']);
    assert.equal(json.code, 99);
    const comparison = JSON.parse(json.stdout) as { ok: boolean; figures: { key: string; regressed: boolean; changePercent: number }[] };
    assert.equal(comparison.ok, false);
    assert.ok(comparison.figures.find((f) => f.key === 'rtt_p99_us')!.changePercent > 150);
    const reverse = await runCliToEnd(['compare', worse, real]);
    assert.equal(reverse.code, 0, reverse.stderr);
  });

  it('blast --baseline: exit 99 against a much better baseline, 0 against a much worse one; comparison in the JSON', async () => {
    const gated = await runCliToEnd(['blast', server.url, '-c', '10', '-d', '1s', '--json', '--no-save', '--baseline', better]);
    assert.equal(gated.code, 99, gated.stderr);
    const result = JSON.parse(gated.stdout) as GatedResult;
    assert.equal(result.comparison!.ok, false);
    assert.ok(result.comparison!.figures.find((f) => f.key === 'rtt_p99_us')!.regressed);
    assert.match(gated.stderr, /regressed against .*better\.json by more than 10%: .*rtt p99/);
    const fine = await runCliToEnd(['blast', server.url, '-c', '10', '-d', '1s', '--quiet', '--no-save', '--baseline', worse, '--max-regression', '0']);
    assert.equal(fine.code, 0, fine.stderr);
    assert.match(fine.stdout, /Compared with .*worse\.json \(gate: at most 0% worse\): no regression/);
  });

  it('bad input: exit 2, one line', async () => {
    const notResult = join(scratch, 'not-a-result.json');
    writeFileSync(notResult, '{"hello": 1}');
    for (const [args, pattern] of [
      [[real, notResult], /^wsbench: current: ".*not-a-result\.json" is not valid; expected a wsbench blast result/],
      [[join(scratch, 'nope.json'), real], /^wsbench: baseline: ".*nope\.json" is not valid; expected a readable file \(ENOENT\)/],
      [[real, real, '--max-regression', 'x'], /^wsbench: --max-regression: "x" is not valid/],
    ] as const) {
      const run = await runCliToEnd(['compare', ...args]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trim().split('\n').length, 1);
    }
  });
});
