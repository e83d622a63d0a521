/**
 * serve when its own processes fail: a worker killed while it holds connections, a worker that
 * fails at start, the primary killed. Real processes, real clients, on loopback.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import { runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Processes whose environment carries `mark` (they were started by this test, however reparented). */
function processesMarked(mark: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(mark)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

async function healthz(url: string): Promise<ServeStats & { status: string }> {
  const response = await fetch(url.replace('ws://', 'http://').replace(/\/ws$/, '/healthz'));
  return (await response.json()) as ServeStats & { status: string };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await sleep(100);
  }
  throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
}

describe('serve: its own processes failing', () => {
  it('a worker killed with SIGKILL: its slots come back, the counts stay true, a replacement serves', async () => {
    const server = await startServeCli(['--max', '600', '--workers', '2', '--heartbeat', '0']);
    try {
      const holders = runCli(['blast', server.url, '-c', '400', '--rate', '0', '-d', '20s', '--json', '--no-save']);
      await until('400 open', () => healthz(server.url), (s) => s.open === 400);
      const workers = childrenOf(server.child.pid!);
      assert.equal(workers.length, 2);
      process.kill(workers[0]!, 'SIGKILL');
      await server.waitForStderr(/worker \d exited \(SIGKILL\); its slots were freed; starting a replacement/);
      const after = await until('the survivor alone open, and 2 workers', () => healthz(server.url), (s) => s.open < 400 && s.workers === 2);
      assert.equal(after.accepted, 400);
      assert.equal(after.closed, after.accepted - after.open, 'closed = accepted - open');
      assert.equal(after.workerExits, 1);
      // New connections keep being served, up to the full cap.
      const fresh = await runCliToEnd(['blast', server.url, '-c', String(600 - after.open), '--rate', '0', '-d', '0', '--json', '--no-save']);
      const result = JSON.parse(fresh.stdout) as BlastResult;
      assert.equal(result.outcomes.accepted, 600 - after.open, JSON.stringify(result.outcomes));
      assert.equal(result.outcomes.rejected.total, 0);
      holders.child.kill('SIGINT');
      await holders.exited;
      const held = JSON.parse(holders.stdout) as BlastResult;
      assert.equal(held.outcomes.dropped.byCloseCode['1006'], 400 - after.open, 'the killed worker\'s connections were dropped');
    } finally {
      await stop(server);
    }
  });

  it('a worker that fails at start: serve exits 1 with one line, and leaves no worker running', async () => {
    // A preload that makes the first serve worker to start exit at once.
    const mark = `WSBENCH_TEST_MARK_${randomUUID()}`;
    const folder = mkdtempSync(join(tmpdir(), 'wsbench-faults-'));
    const flag = join(folder, 'flag');
    const preload = join(folder, 'preload.mjs');
    writeFileSync(
      preload,
      `import { openSync } from 'node:fs';\n` +
        `if (process.argv[1]?.endsWith('serve/worker-main.js')) { try { openSync(${JSON.stringify(flag)}, 'wx'); process.exit(3); } catch {} }\n`,
    );
    const run = await runCliToEnd(['serve', '--port', '0', '--max', '100', '--workers', '3'], {
      env: { NODE_OPTIONS: `--import=${preload}`, [mark]: '1' },
      timeoutMs: 30_000,
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^wsbench: a server worker exited with code 3 during start\n$/);
    await until('no marked process left', async () => processesMarked(mark), (pids) => pids.length === 0, 5000);
    rmSync(folder, { recursive: true, force: true });
  });

  it('the primary killed with SIGKILL: the workers exit quietly', async () => {
    const mark = `WSBENCH_TEST_MARK_${randomUUID()}`;
    const server = runCli(['serve', '--port', '0', '--max', '100', '--workers', '2'], { env: { [mark]: '1' } });
    await server.waitForStderr(/listening on/);
    assert.equal(processesMarked(mark).length, 3);
    server.child.kill('SIGKILL');
    await server.exited;
    await until('the workers gone', async () => processesMarked(mark), (pids) => pids.length === 0, 5000);
    await sleep(200);
    assert.doesNotMatch(server.stderr, /EPIPE|Error|at /, server.stderr);
  });
});

describe('serve: its status line under load', () => {
  it('agrees with /healthz while connections are held and echo (accepted, open, msgs/s measured per second)', async () => {
    const server = await startServeCli(['--max', '2000', '--workers', '2']);
    const load = runCli(['blast', server.url, '-c', '600', '-d', '15s', '--no-save', '--quiet']);
    try {
      await until('600 open', () => healthz(server.url), (s) => s.open === 600, 20_000);
      // Status lines come every 5 s off a TTY: wait for one printed after everything was open.
      const before = server.stderr.length;
      await until('a fresh status line', async () => server.stderr.slice(before), (text) => /open [\d,]+\/2,000  accepted [\d,]+/.test(text), 15_000);
      const line = /open ([\d,]+)\/2,000 {2}accepted ([\d,]+) {2}rejected \d+ {2}msgs\/s ([\d,]+)/.exec(server.stderr.slice(before))!;
      const number = (text: string) => Number(text.replace(/,/g, ''));
      const stats = await healthz(server.url);
      assert.equal(number(line[1]!), 600, line[0]);
      assert.equal(number(line[2]!), stats.accepted, `status ${line[0]} vs /healthz accepted ${stats.accepted}`);
      assert.equal(stats.closed, stats.accepted - stats.open);
      assert.ok(number(line[3]!) > 0, `the echoes are counted per second: ${line[0]}`);
    } finally {
      load.child.kill('SIGINT');
      await load.exited;
      await stop(server);
    }
  });
});
