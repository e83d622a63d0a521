/** The real binary with thresholds: exit codes 0, 1, 2 and 99 against real servers on loopback. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { silentServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-gate-'));
let fileCount = 0;
const scratchFile = (name = 'result') => join(scratch, `${name}-${++fileCount}.json`);
const readResult = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as GatedResult;

describe('wsbench blast --threshold (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>> | undefined;
  after(async () => {
    if (server) await stop(server);
  });

  it('exit 0 when every threshold holds; thresholds first in the summary, in the JSON with what was observed; -H values redacted', async () => {
    server = await startServeCli(['--max', '20', '--workers', '1']);
    const thresholdsFile = scratchFile('thresholds');
    writeFileSync(thresholdsFile, JSON.stringify({ thresholds: ['accepted:count==20', 'connect:p(99)<30s'] }));
    const out = scratchFile();
    const run = await runCliToEnd([
      'blast', server.url, '-c', '20', '-d', '1s', '--quiet', '--out', out,
      '--threshold', 'failed:count==0', '--threshold', 'rtt:p(99)<30s', '--thresholds', thresholdsFile,
      '-H', 'Authorization: Bearer s3cr3t-token',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Thresholds: 4 of 4 passed\n {2}PASS {2}failed:count==0 +observed 0\n {2}PASS {2}rtt:p\(99\)<30s +observed \d+\.\d\d ms\n {2}PASS {2}accepted:count==20 +observed 20\n/);
    const result = readResult(out);
    assert.deepEqual(result.thresholds.map((t) => [t.expression, t.ok]), [
      ['failed:count==0', true],
      ['rtt:p(99)<30s', true],
      ['accepted:count==20', true],
      ['connect:p(99)<30s', true],
    ]);
    assert.equal(result.thresholds[2]!.observed, 20);
    assert.ok(result.thresholds[1]!.observed! > 0, 'rtt p99 observed in µs');
    assert.deepEqual(result.config.headers, { Authorization: '<redacted>' });
    assert.ok((result.environment.command as string[]).includes('Authorization: <redacted>'), 'the recorded command line too');
    assert.ok(!readFileSync(out, 'utf8').includes('s3cr3t'), 'the header value is nowhere in the file');
  });

  it('--record-headers keeps header values', async () => {
    const run = await runCliToEnd(['blast', server!.url, '-c', '1', '-d', '0', '--json', '--no-save', '-H', 'X-Api-Key: k-123', '--record-headers']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as GatedResult).config.headers, { 'X-Api-Key': 'k-123' });
  });

  it('exit 99 when a threshold is crossed; the result is still printed and written', async () => {
    const out = scratchFile();
    const run = await runCliToEnd(['blast', server!.url, '-c', '30', '-d', '0.5s', '--quiet', '--out', out, '--threshold', 'rejected:count==0', '--threshold', 'accepted:count==20']);
    assert.equal(run.code, 99, run.stderr);
    assert.equal(run.stderr, 'wsbench: 1 threshold crossed: rejected:count==0\n');
    assert.match(run.stdout, /^Thresholds: 1 of 2 passed, THRESHOLDS CROSSED\n {2}FAIL {2}rejected:count==0 +observed 10\n {2}PASS {2}accepted:count==20 +observed 20\n/);
    assert.match(run.stdout, /attempted 30 {2}accepted 20 {2}rejected 10/);
    const result = readResult(out);
    assert.deepEqual(result.thresholds[0], { expression: 'rejected:count==0', ok: false, observed: 10, unit: 'count', limit: 0 });
    assert.equal(result.outcomes.accepted, 20);
  });

  it('exit 99 with --json: the verdict is in the document', async () => {
    const run = await runCliToEnd(['blast', server!.url, '-c', '5', '--messages', '20', '--json', '--no-save', '--threshold', 'rtt:p(99)<1us', '--threshold', 'messages:count==100']);
    assert.equal(run.code, 99, run.stderr);
    const result = JSON.parse(run.stdout) as GatedResult;
    assert.deepEqual(result.thresholds.map((t) => t.ok), [false, true]);
    assert.equal(result.thresholds[1]!.observed, 100);
  });

  it('exit 2 for bad thresholds, before any connection opens: one line naming the option, the value and what is valid', async () => {
    let connections = 0;
    const listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const url = `ws://127.0.0.1:${(listener.address() as { port: number }).port}/ws`;
    const badFile = scratchFile('thresholds');
    writeFileSync(badFile, JSON.stringify(['failed:count==0', 'rtt:p(99)<5 fortnights']));
    const notJson = scratchFile('thresholds');
    writeFileSync(notJson, 'thresholds: [rtt]');
    try {
      for (const [args, pattern] of [
        [['--threshold', 'latency:p(99)<5ms'], /^wsbench: --threshold: "latency:p\(99\)<5ms" is not valid; unknown metric "latency"; valid metrics: rtt, reply, delivery, connect, /],
        [['--threshold', 'rtt:p99<5ms'], /^wsbench: --threshold: "rtt:p99<5ms" is not valid; rtt takes min, max, avg, med, stdev, p\(N\), not "p99"/],
        [['--threshold', 'failed:count<5ms'], /unknown unit "ms" for failed:count/],
        [['--threshold', 'rtt{phase:hold}:max<1s'], /unknown phase "hold"; valid phases: ramp, run/],
        [['--thresholds', badFile], new RegExp(`--thresholds ${badFile.replace(/[.]/g, '\\.')} \\[1\\]: "rtt:p\\(99\\)<5 fortnights" is not valid`)],
        [['--thresholds', notJson], /--thresholds: ".*" is not valid; expected JSON/],
        [['--thresholds', join(scratch, 'missing.json')], /--thresholds: ".*missing\.json" is not valid; expected a readable file \(ENOENT\)/],
        [['--baseline', join(scratch, 'missing.json')], /--baseline: ".*missing\.json" is not valid; expected a readable file \(ENOENT\)/],
        [['--baseline', notJson], /--baseline: .* expected JSON/],
        [['--max-regression', 'lots'], /--max-regression: "lots" is not valid; expected a percentage from 0% to 1000%/],
      ] as const) {
        const run = await runCliToEnd(['blast', url, '-c', '5', '-d', '0', '--no-save', ...args]);
        assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
        assert.match(run.stderr, pattern);
        assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
        assert.equal(run.stdout, '');
      }
      assert.equal(connections, 0, 'no connection was opened');
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('exit 1 when nothing was measured, even with every threshold holding; --rate 0 expects no echoes (exit 0)', async () => {
    const silent = await silentServer();
    try {
      const run = await runCliToEnd(['blast', silent.url, '-c', '3', '-d', '0.5s', '--json', '--no-save', '--threshold', 'failed:count==0']);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /^wsbench: no message was echoed \(3 sent\): nothing was measured/);
      assert.equal((JSON.parse(run.stdout) as GatedResult).thresholds[0]!.ok, true);
      const idle = await runCliToEnd(['blast', silent.url, '-c', '3', '-d', '0.5s', '--rate', '0', '--json', '--no-save']);
      assert.equal(idle.code, 0, idle.stderr);
      assert.equal(idle.stderr, '');
    } finally {
      await silent.close();
    }
  });
});
