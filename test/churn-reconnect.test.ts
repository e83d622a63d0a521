/**
 * --lifetime (churn) and --reconnect, run as users run them against a real serve: concurrency holds
 * while connections turn over, every slot is given back, and a server restart is a storm that is
 * measured and summarised. The backoff and the storm's arithmetic are checked on known inputs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { reconnectDelay } from '../src/blast/load-generator.js';
import type { GatedResult } from '../src/gate/gate-plan.js';
import { createHistogram, encodeHistogram, recordUs } from '../src/metrics/histogram.js';
import { stormOf } from '../src/metrics/churn.js';
import { freePort, runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-churn-'));

const healthz = async (url: string) => (await (await fetch(url.replace(/^ws/, 'http').replace(/\/ws$/, '/healthz'))).json()) as { open: number; accepted: number; closed: number; max: number };

describe('--lifetime and --reconnect', () => {
  it('churn: concurrency holds within ±1% of -c while connections turn over at about -c/lifetime a second; every slot comes back', async () => {
    // A cap 1% over -c: a replacement opens when its predecessor's TCP connection has closed, and
    // serve's worker tells its primary that the slot is free a moment later (IPC), so at a cap of
    // exactly -c a few replacements in a thousand are refused (503) in that moment, and tried again.
    const server = await startServeCli(['--max', '404', '--workers', '1']);
    try {
      const run = runCli(['blast', server.url, '-c', '400', '-d', '6s', '--rate', '1', '--lifetime', '3s', '--json']);
      let highest = 0;
      const poll = setInterval(() => void healthz(server.url).then((h) => (highest = Math.max(highest, h.open)), () => {}), 50);
      const { code } = await run.exited;
      clearInterval(poll);
      assert.equal(code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as GatedResult;
      // A refused replacement is tried again (the --reconnect backoff), so the slot is not lost.
      assert.ok(result.outcomes.rejected.total <= result.churn!.churned * 0.02, `refused replacements: ${result.outcomes.rejected.total}`);
      assert.equal(result.outcomes.attempted, result.outcomes.accepted + result.outcomes.rejected.total + result.outcomes.failed.total);
      const churn = result.churn!;
      // 400 connections of 3 s lifetimes over a 6 s run: about 800 turned over, 133 a second.
      assert.ok(churn.churned >= 650 && churn.churned <= 950, `churned ${churn.churned}`);
      assert.ok(churn.connectsDuringRun >= churn.churned - 3 && churn.connectsDuringRun <= churn.churned, 'each closed connection was replaced during the run (the last ones may be on their way)');
      assert.ok(churn.connectsPerSecond >= 105 && churn.connectsPerSecond <= 160, `${churn.connectsPerSecond} connects/s`);
      // Each second's count at its end, over the run's whole seconds (not the ramp's last, nor the partial last).
      const seconds = result.timeline!.filter((e) => e.phase === 'run').slice(1, -1);
      assert.ok(seconds.length >= 4);
      // Sampled at an instant, a second's count catches the replacements in flight then: 133 a second
      // times their connect time, 4 (1%) at 30 ms, 8 (2%) at the 60 ms a loaded shared machine gives
      // (a CI run here saw a median of 395). So the median second within 2%, every second within 5%.
      const opens = seconds.map((e) => e.open).sort((a, b) => a - b);
      assert.ok(Math.abs(opens[Math.floor(opens.length / 2)]! - 400) <= 8, `median open ${opens.join(', ')}: within 2% of 400`);
      for (const second of seconds) assert.ok(Math.abs(second.open - 400) <= 20, `open ${second.open} at ${second.t_s} s: within 5% of 400`);
      assert.ok(highest <= 404, `serve never held more than its cap (${highest})`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await healthz(server.url);
      assert.equal(after.open, 0, 'every slot given back');
      assert.equal(after.accepted, result.outcomes.accepted, "serve's count is blast's");
      assert.equal(after.closed, after.accepted);
      assert.equal(result.histograms.connectRun_us !== undefined, true);
    } finally {
      await stop(server);
    }
  });

  it('a server restart under 200 connections: every one is back, the storm is measured and summarised, gated, and the counts add up', async () => {
    const port = await freePort();
    let server = await startServeCli(['--port', String(port), '--max', '1000', '--workers', '1']);
    const file = join(scratch, 'storm.json');
    const run = runCli(['blast', server.url, '-c', '200', '-d', '6s', '--rate', '1', '--reconnect', '--reconnect-min', '50ms', '--reconnect-max', '400ms', '-o', file,
      '--threshold', 'reconnect_time:p(99)<5s', '--threshold', 'reconnects:count==200', '--threshold', 'connects:rate>10']);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await stop(server);
    await new Promise((resolve) => setTimeout(resolve, 800));
    server = await startServeCli(['--port', String(port), '--max', '1000', '--workers', '1']);
    try {
      const { code } = await run.exited;
      assert.equal(code, 0, run.stderr);
      assert.match(run.stdout, /reconnects: 200 dropped, 200 back \(\d[\d,]* attempts, [\d.]+ per reconnect\); back in p50 [\d.]+ ms, p99 [\d.]+ ms/);
      assert.match(run.stdout, /storm at \S+: 200 of 200 back in \d+\.\d s \(p50 \d+\.\d\d s, p99 \d+\.\d\d s\)/);
      const result = JSON.parse(readFileSync(file, 'utf8')) as GatedResult;
      const reconnects = result.reconnects!;
      assert.equal(reconnects.dropped, 200);
      assert.equal(reconnects.reconnected, 200);
      assert.equal(reconnects.pending, 0);
      assert.ok(reconnects.attempts >= 200, 'at least one attempt each');
      assert.equal(result.outcomes.attempted, result.outcomes.accepted + result.outcomes.rejected.total + result.outcomes.failed.total);
      assert.equal(result.outcomes.accepted, 400, 'each connection accepted twice: before and after the restart');
      assert.equal(result.outcomes.attempted - 200, reconnects.attempts, 'every attempt after the ramp is a reconnect attempt');
      assert.equal(reconnects.storm!.dropped, 200);
      assert.ok(reconnects.storm!.allBackMs! >= 800, `back in ${reconnects.storm!.allBackMs} ms, the server was down 800 ms`);
      assert.ok(reconnects.time.min_us >= 50_000, 'no reconnect before --reconnect-min');
      assert.deepEqual(result.thresholds.map((t) => t.ok), [true, true, true], JSON.stringify(result.thresholds));
    } finally {
      await stop(server);
    }
  });

  it('--lifetime with --messages or --scenario, and the reconnect options without --reconnect, are refused (exit 2)', async () => {
    for (const [args, pattern] of [
      [['--lifetime', '1s', '--messages', '5'], /--lifetime: "1s" is not valid; it cannot be combined with --messages/],
      [['--lifetime', '1s', '--scenario', 'examples/chat.yaml'], /--lifetime: "1s" is not valid; it cannot be combined with --scenario/],
      [['--reconnect-max', '1s'], /--reconnect-max: "1s" is not valid; it is for --reconnect/],
      [['--reconnect', '--reconnect-min', '2s', '--reconnect-max', '1s'], /--reconnect-max: "1s" is not valid; expected at least --reconnect-min/],
      [['--lifetime-jitter', '10%'], /--lifetime-jitter: "10%" is not valid; it is for --lifetime/],
    ] as const) {
      const run = await runCliToEnd(['blast', 'ws://127.0.0.1:9/ws', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
    }
  });

  it('backoff stays within its bounds: full jitter between min and the doubling ceiling; none is the ceiling itself', () => {
    const options = { reconnectMinMs: 100, reconnectMaxMs: 10_000, reconnectJitter: true };
    for (let attempt = 1; attempt <= 30; attempt++) {
      const ceiling = Math.min(10_000, 100 * 2 ** attempt);
      for (const random of [0, 0.25, 0.5, 0.999999]) {
        const delay = reconnectDelay(options, attempt, random);
        assert.ok(delay >= 100 && delay <= ceiling, `attempt ${attempt}: ${delay} in [100, ${ceiling}]`);
      }
    }
    assert.equal(reconnectDelay(options, 1, 0.5), 150);
    assert.equal(reconnectDelay(options, 3, 1), 800);
    assert.equal(reconnectDelay(options, 60, 1), 10_000);
    const none = { ...options, reconnectJitter: false };
    assert.deepEqual([1, 2, 3, 4, 10].map((a) => reconnectDelay(none, a, Math.random())), [100, 200, 400, 800, 10_000]);
  });

  it('the storm is the largest cluster of drops in adjacent seconds, when it is at least a tenth of the connections', () => {
    const back = (...ms: number[]) => {
      const h = createHistogram();
      for (const m of ms) recordUs(h, m * 1000);
      return encodeHistogram(h);
    };
    const t0 = 1_800_000_000;
    const storm = stormOf(
      [
        { second: t0, dropped: 2, back: 2, lastBackAt: t0 * 1000 + 300, firstDropAt: t0 * 1000 + 100, backHistogram: back(100, 200) },
        { second: t0 + 10, dropped: 60, back: 60, lastBackAt: (t0 + 12) * 1000, firstDropAt: (t0 + 10) * 1000 + 500, backHistogram: back(...Array(60).fill(1000)) },
        { second: t0 + 11, dropped: 40, back: 40, lastBackAt: (t0 + 13) * 1000, firstDropAt: (t0 + 11) * 1000, backHistogram: back(...Array(40).fill(2000)) },
      ],
      100,
    )!;
    assert.equal(storm.dropped, 100);
    assert.equal(storm.back, 100);
    assert.equal(storm.at, new Date((t0 + 10) * 1000 + 500).toISOString());
    assert.equal(storm.allBackMs, 2500);
    assert.equal(storm.time.count, 100);
    assert.equal(stormOf([{ second: t0, dropped: 5, back: 5, lastBackAt: 0, backHistogram: back(1, 1, 1, 1, 1) }], 100), null, '5 of 100 is no storm');
  });
});
