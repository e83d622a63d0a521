/** The real wsbench binary: blast against real servers on loopback, its accounting and its faults. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectionsPerProcess, readFdLimit } from '../src/limits/fd-budget.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { clientProcesses, freePort, runCli, runCliToEnd, startServeCli, stop, waitForOpen } from './helpers/cli.js';
import { blackholeServer, delayedEchoServer, silentServer, stallingEchoServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-test-'));
let fileCount = 0;
const outFile = () => join(scratch, `result-${++fileCount}.json`);

async function portIsFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function assertAccounting(result: BlastResult): void {
  const { outcomes } = result;
  assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total, 'attempted = accepted + rejected + failed');
}

describe('wsbench blast (CLI)', () => {
  it('serve --max 100 vs blast -c 300: 100 accepted, 200 rejected (503), 0 failed', async () => {
    const server = await startServeCli(['--max', '100', '--workers', '2']);
    try {
      const out = outFile();
      const run = await runCliToEnd(['blast', server.url, '-c', '300', '-d', '1s', '--out', out]);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
      assert.equal(result.outcomes.attempted, 300);
      assert.equal(result.outcomes.accepted, 100);
      assert.deepEqual(result.outcomes.rejected.byStatus, { 503: 200 });
      assert.equal(result.outcomes.failed.total, 0);
      assert.equal(result.outcomes.dropped.total, 0);
      assertAccounting(result);
      assert.ok(result.messages.received > 0);
      assert.equal(result.messages.mismatched, 0);
      // The text summary carries the same numbers.
      assert.match(run.stdout, /attempted 300 {2}accepted 100 {2}rejected 200 {2}failed 0 {2}dropped 0/);
      assert.match(run.stdout, /rejected 503: 200/);
      assert.match(run.stdout, /round trip +\d+\.\d\d/);
    } finally {
      await stop(server);
    }
  });

  it('no URL: starts its own server, says so, and writes JSON with schemaVersion and histograms', async (t) => {
    if (!(await portIsFree(8000))) {
      t.skip('127.0.0.1:8000 is taken: with no URL, blast would blast a wsbench serve there');
      return;
    }
    const run = await runCliToEnd(['blast', '-c', '50', '-d', '1s', '--json', '--no-save']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', '--json is silent on stderr');
    const result = JSON.parse(run.stdout) as BlastResult;
    assert.equal(result.schemaVersion, 2);
    assert.equal(result.target.ownServer, true);
    assert.equal(result.outcomes.accepted, 50);
    assert.ok(result.latency.roundTrip.count > 0);
    assert.ok(result.latency.roundTrip.p50_us > 0);
    assert.equal(typeof result.histograms.roundTrip_us, 'string');
    assert.equal(result.latency.coordinatedOmissionCorrected, false);
    const header = await runCliToEnd(['blast', '-c', '5', '-d', '0', '--own-server', '--no-save']);
    assert.match(header.stderr, /its own server, started for this run/);
  });

  it("no URL beside `wsbench serve` on its default port: blasts that serve (its cap holds), unless --own-server; another program there is left alone", async (t) => {
    if (!(await portIsFree(8000))) {
      t.skip('127.0.0.1:8000 is taken by something this test did not start');
      return;
    }
    // As a user runs the pair: serve with no --port, blast with no URL.
    const server = runCli(['serve', '--max', '40', '--workers', '1']);
    try {
      await server.waitForStderr(/listening on ws:\/\/127\.0\.0\.1:8000\/ws/);
      const out = outFile();
      const run = await runCliToEnd(['blast', '-c', '60', '-d', '1s', '--out', out]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^wsbench blast ws:\/\/127\.0\.0\.1:8000\/ws \(the wsbench serve running there: --mode echo, --max 40, 0 open; --own-server/);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
      assert.deepEqual(result.target, { url: 'ws://127.0.0.1:8000/ws', ownServer: false, found: true });
      assert.equal(result.outcomes.accepted, 40);
      assert.deepEqual(result.outcomes.rejected.byStatus, { 503: 20 });
      assert.ok(result.messages.received > 0);
      const own = await runCliToEnd(['blast', '-c', '60', '-d', '0', '--own-server', '--json', '--no-save']);
      assert.equal(own.code, 0, own.stderr);
      const ownResult = JSON.parse(own.stdout) as BlastResult;
      assert.equal(ownResult.target.ownServer, true);
      assert.equal(ownResult.outcomes.accepted, 60);
      const both = await runCliToEnd(['blast', 'ws://127.0.0.1:8000/ws', '--own-server']);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /^wsbench: --own-server: "ws:\/\/127\.0\.0\.1:8000\/ws" is not valid; it cannot be combined with a URL/);
    } finally {
      await stop(server, 'SIGINT');
    }
    // Not a wsbench serve: an HTTP server whose /healthz has all of serve's fields but the name, and
    // a listener that never answers (the probe gives up after 1 s). blast starts its own each time.
    const { createServer: createHttpServer } = await import('node:http');
    const { createServer: createTcpServer } = await import('node:net');
    const healthLike = JSON.stringify({ status: 'ok', mode: 'echo', path: '/ws', max: 5, open: 0 });
    const held = new Set<import('node:net').Socket>();
    const others = [
      createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(healthLike)),
      createTcpServer((socket) => held.add(socket.on('error', () => {}))),
    ];
    for (const other of others) {
      await new Promise<void>((resolve, reject) => {
        other.once('error', reject);
        other.listen(8000, '127.0.0.1', resolve);
      });
      try {
        const run = await runCliToEnd(['blast', '-c', '20', '-d', '0', '--json', '--no-save'], { timeoutMs: 30_000 });
        assert.equal(run.code, 0, run.stderr);
        const result = JSON.parse(run.stdout) as BlastResult;
        assert.equal(result.target.ownServer, true);
        assert.equal(result.outcomes.accepted, 20);
      } finally {
        for (const socket of held) socket.destroy();
        if ('closeAllConnections' in other) other.closeAllConnections();
        await new Promise((resolve) => other.close(resolve));
      }
    }
  });

  it('scale: 30,000 connections, past one process\'s open files and one address\'s ports', async () => {
    const out = outFile();
    const run = await runCliToEnd(['blast', '-c', '30000', '--own-server', '--rate', '0', '-d', '1s', '--connect-timeout', '30s', '--out', out, '--quiet'], { timeoutMs: 180_000 });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
    assert.equal(result.outcomes.accepted, 30_000, JSON.stringify(result.outcomes));
    assert.equal(result.outcomes.failed.total, 0);
    assert.ok(result.plan.workers >= 2, 'more than one client process');
    assert.ok(result.plan.sourceAddresses.length >= 2, 'more than one source address');
    assert.equal(result.latency.connect.count, 30_000);
  });

  it('at a worker\'s open-file limit, every further client still gets its 503, none is left unanswered', async (t) => {
    const fdLimit = readFdLimit();
    if (fdLimit > 50_000) return t.skip(`open-file limit ${fdLimit} is too high to reach in a test`);
    const max = connectionsPerProcess(fdLimit);
    const server = await startServeCli(['--max', String(max), '--workers', '1']);
    try {
      const out = outFile();
      const run = await runCliToEnd(['blast', server.url, '-c', String(max + 2000), '--rate', '0', '-d', '0', '--connect-timeout', '30s', '--out', out, '--quiet'], { timeoutMs: 180_000 });
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
      assert.equal(result.outcomes.accepted, max);
      assert.deepEqual(result.outcomes.rejected.byStatus, { 503: 2000 });
      assert.equal(result.outcomes.failed.total, 0, JSON.stringify(result.outcomes.failed));
    } finally {
      await stop(server);
    }
  });

  // Never below the server's 20 ms; above it by the timer and scheduling lateness of the test process
  // that runs the server (up to a few ms on a busy 2-core machine).
  it('known latency: a server that delays each echo by 20 ms gives p50 within 20-25 ms', async () => {
    const server = await delayedEchoServer(20);
    try {
      const run = await runCliToEnd(['blast', server.url, '-c', '10', '-d', '2s', '--json', '--no-save']);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as BlastResult;
      const p50Ms = result.latency.roundTrip.p50_us / 1000;
      assert.ok(p50Ms >= 20 && p50Ms <= 25, `p50 ${p50Ms} ms`);
    } finally {
      await server.close();
    }
  });

  it('coordinated omission: a paced run shows a 1 s stall in the corrected percentiles', async () => {
    const server = await stallingEchoServer(800, 1000);
    try {
      const run = await runCliToEnd(['blast', server.url, '-c', '4', '--rate', '50', '-d', '3s', '--json', '--no-save']);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as BlastResult;
      assert.equal(result.latency.coordinatedOmissionCorrected, true);
      assert.equal(result.latency.roundTripMeasuredFrom, 'intended-send');
      assert.ok(result.latency.roundTrip.max_us >= 900_000, `max ${result.latency.roundTrip.max_us} µs`);
      assert.ok(result.latency.roundTrip.p90_us >= 300_000, `p90 ${result.latency.roundTrip.p90_us} µs`);
      assert.ok(result.latency.roundTrip.p50_us < 300_000, `p50 ${result.latency.roundTrip.p50_us} µs`);
      const text = await runCliToEnd(['blast', server.url, '-c', '1', '--rate', '10', '-d', '0.5s', '--no-save']);
      assert.match(text.stdout, /counted from the intended send time/);
    } finally {
      await server.close();
    }
  });

  it('a server killed mid-run: its connections count as dropped, the run ends, results are written', async () => {
    const server = await startServeCli(['--max', '50', '--workers', '1']);
    const out = outFile();
    const run = runCli(['blast', server.url, '-c', '50', '-d', '60s', '--out', out]);
    await waitForOpen(server.url, 50);
    await new Promise((resolve) => setTimeout(resolve, 500));
    server.child.kill('SIGKILL');
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr);
    assert.match(run.stderr, /every connection ended before --duration: the server went away/);
    const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
    assert.equal(result.outcomes.accepted, 50);
    assert.equal(result.outcomes.dropped.total, 50);
    assert.ok(result.durationMs < 30_000, `ended early (${result.durationMs} ms)`);
    assertAccounting(result);
  });

  it('a client process that dies: the result says INCOMPLETE and the exit code is 1', async () => {
    const out = outFile();
    const run = runCli(['blast', '-c', '2000', '--own-server', '--workers', '2', '-d', '60s', '--out', out]);
    // The coordinator's children: its own server's primary and the client processes; kill a client
    // once its connections are open (the run's progress line says the run has begun).
    const [client] = await clientProcesses(run);
    await run.waitForStderr(/\] run /, 30_000).catch(() => undefined);
    process.kill(client!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr);
    assert.match(run.stderr, /ended without reporting; the result is incomplete/);
    assert.match(run.stdout, /INCOMPLETE/);
    const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
    assert.equal(result.missingClientProcesses.length, 1);
  });

  it("client processes run with one malloc arena (MALLOC_ARENA_MAX=1), unless the user's environment sets it", async () => {
    for (const [env, expected] of [[{ MALLOC_ARENA_MAX: undefined }, '1'], [{ MALLOC_ARENA_MAX: '4' }, '4']] as const) {
      const run = runCli(['blast', '-c', '10', '--own-server', '--workers', '1', '-d', '30s', '--no-save', '--rate', '0'], { env: { ...env } });
      try {
        const [client] = await clientProcesses(run);
        const environ = readFileSync(`/proc/${client}/environ`, 'utf8').split('\0');
        assert.ok(environ.includes(`MALLOC_ARENA_MAX=${expected}`), `MALLOC_ARENA_MAX=${expected} in ${environ.filter((line) => line.startsWith('MALLOC')).join(' ') || 'no MALLOC_ variable'}`);
      } finally {
        run.child.kill('SIGINT');
        await run.exited;
      }
    }
  });

  it('SIGINT: stops, prints and writes the partial result, exit 130', async () => {
    const out = outFile();
    const run = runCli(['blast', '-c', '20', '-d', '60s', '--own-server', '--json', '--out', out]);
    // Long enough for its own server, the ramp and some echoes, on a loaded machine too.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130);
    const printed = JSON.parse(run.stdout) as BlastResult;
    assert.equal(printed.interrupted, true);
    assert.equal(printed.outcomes.accepted, 20);
    assert.ok(printed.messages.received > 0);
    const written = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
    assert.equal(written.interrupted, true);
    assert.equal(written.outcomes.accepted, 20);
  });

  it('SIGINT during the ramp: handshakes in flight end as failed (aborted), every attempt accounted for', async () => {
    const server = await blackholeServer();
    try {
      const run = runCli(['blast', server.url, '-c', '20', '--connect-timeout', '60s', '-d', '60s', '--json', '--no-save']);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      run.child.kill('SIGINT');
      const { code } = await run.exited;
      assert.equal(code, 130);
      const result = JSON.parse(run.stdout) as BlastResult;
      assert.equal(result.outcomes.attempted, 20);
      assert.deepEqual(result.outcomes.failed.byReason, { aborted: 20 });
      assertAccounting(result);
    } finally {
      await server.close();
    }
  });

  it('a server that never answers the upgrade: failed (ETIMEDOUT) within --connect-timeout', async () => {
    const server = await blackholeServer();
    try {
      const startedAt = Date.now();
      const run = await runCliToEnd(['blast', server.url, '-c', '5', '--connect-timeout', '300ms', '-d', '5s', '--json', '--no-save']);
      assert.equal(run.code, 1, 'nothing was measured');
      const result = JSON.parse(run.stdout) as BlastResult;
      assert.deepEqual(result.outcomes.failed.byReason, { ETIMEDOUT: 5 });
      assertAccounting(result);
      assert.ok(Date.now() - startedAt < 4000, 'did not wait out the duration with nothing open');
    } finally {
      await server.close();
    }
  });

  it('a server that stops echoing: the run ends on time and unanswered messages are counted', async () => {
    const server = await silentServer();
    try {
      const run = await runCliToEnd(['blast', server.url, '-c', '5', '-d', '1s', '--json', '--no-save']);
      assert.equal(run.code, 1, 'no echo: nothing was measured');
      const result = JSON.parse(run.stdout) as BlastResult;
      assert.equal(result.messages.sent, 5);
      assert.equal(result.messages.received, 0);
      assert.equal(result.messages.unanswered, 5);
      assert.ok(result.durationMs < 6000);
    } finally {
      await server.close();
    }
  });

  it('nothing reachable: one clear line, exit 1', async () => {
    const port = await freePort();
    const run = await runCliToEnd(['blast', `ws://127.0.0.1:${port}/ws`, '-c', '10', '--no-save']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`^wsbench: nothing answers at 127.0.0.1:${port} \\(ECONNREFUSED\\); is the server running\\?\\n$`));
  });

  it('bad URL or flags: exit 2 with the option named', async () => {
    for (const [args, pattern] of [
      [['http://127.0.0.1:1/'], /url: "http:\/\/127.0.0.1:1\/" is not valid; expected a ws:\/\/ or wss:\/\/ URL/],
      [['-c', 'many'], /-c, --connections: "many" is not valid/],
      [['-d', 'forever'], /-d, --duration: "forever" is not valid/],
      [['--rate', '-3'], /--rate: "-3" is not valid/],
      [['--workers', '1', '-c', '50000'], /--workers: 1 is not valid; -c 50000 needs at least 3 client processes/],
      [['--source-ip', '12'], /--source-ip: "12" is not valid; expected IP addresses/],
      [['ws://127.0.0.1:1/', '--source-ip', '::1'], /--source-ip: "::1" is not valid; expected IPv4 source addresses/],
      [['-d', '600h'], /-d, --duration: "600h" is not valid; expected a duration from 0ms to 24d/],
    ] as const) {
      const run = await runCliToEnd(['blast', ...args, '--no-save']);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trim().split('\n').length, 1);
    }
  });

  it('writes a results file atomically under results/ by default', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'wsbench-cwd-'));
    const run = await runCliToEnd(['blast', '-c', '3', '-d', '0', '--own-server', '--quiet'], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const files = (await import('node:fs')).readdirSync(join(cwd, 'results'));
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^blast-\d{8}-\d{6}Z-\d+\.json$/);
    assert.ok(!files[0]!.endsWith('.tmp'));
    const result = JSON.parse(readFileSync(join(cwd, 'results', files[0]!), 'utf8')) as BlastResult;
    assert.equal(result.outcomes.accepted, 3);
    assert.ok(existsSync(join(cwd, 'results')));
  });
});
