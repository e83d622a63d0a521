/**
 * The ramp's handshake window: against a server that upgrades slower than --max-handshakes asks,
 * connections wait in blast instead of timing out in the server's queue; against a fast one, the
 * window reaches the cap at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HandshakeWindow } from '../src/blast/handshake-window.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd } from './helpers/cli.js';
import { rawServer, upgradeAnswer } from './helpers/servers.js';

describe('handshake window', () => {
  it('starts at 64 and grows by one per quick answer, up to the cap', () => {
    const window = new HandshakeWindow(1000, 1250);
    assert.equal(window.size, 64);
    for (let i = 0; i < 2000; i++) window.settled(10, false);
    assert.equal(window.size, 1000);
    window.tick();
    assert.equal(window.lowest, 1000, 'nothing slow: never lowered');
  });

  it("shrinks to the last second's rate times the target when latency passes it, or on a timeout", () => {
    const window = new HandshakeWindow(1000, 1000);
    for (let i = 0; i < 1000; i++) window.settled(10, false);
    window.tick();
    // The server now answers 50 a tick (200/s), each after 3 s.
    for (let tick = 0; tick < 4; tick++) {
      for (let i = 0; i < 50; i++) window.settled(3000, false);
      window.tick();
    }
    assert.ok(window.size <= 1000 && window.size >= 8);
    assert.ok(window.size <= 600, `lowered: ${window.size}`);
    const settledRate = 200; // per second
    assert.ok(window.size >= settledRate * 1 * 0.5, `about the rate times the 1 s target: ${window.size}`);
    assert.equal(window.lowest, window.size);
    const beforeTimeout = window.size;
    window.settled(undefined, true);
    window.tick();
    assert.ok(window.size <= beforeTimeout, 'a timeout never grows it');
  });

  it('counts a window that slow answers hold under the cap while connections wait, but not a slow start still growing', () => {
    const window = new HandshakeWindow(1000, 500);
    /** A tick in which 60 answers came, each after `latencyMs`. */
    const tick = (latencyMs: number, waiting: boolean) => {
      for (let i = 0; i < 60; i++) window.settled(latencyMs, false);
      window.tick(waiting);
    };
    tick(100, true);
    assert.equal(window.lowest, 1000, 'quick answers: the slow start is growing, nothing held');
    // Answers now take 300 ms: over half the 500 ms target (no growth), under the target (no congestion).
    tick(300, false);
    assert.equal(window.lowest, 1000, 'no connection waited: the window did not set the pace');
    tick(300, true);
    assert.equal(window.lowest, 1000, 'one slow tick is not a pace');
    tick(300, true);
    assert.equal(window.size, 124, 'held, not lowered');
    assert.equal(window.lowest, 124, 'two slow ticks in a row while connections wait: held');
  });
});

describe('a server that upgrades 250 connections a second', { timeout: 120_000 }, () => {
  it('1,200 connections with --max-handshakes 1000 and a 2 s timeout: all accepted, none timed out, and the summary says why the ramp took long', async () => {
    const queue: { socket: Socket; key: string }[] = [];
    const server = await rawServer((socket, key) => queue.push({ socket, key }));
    const answering = setInterval(() => {
      const next = queue.shift();
      if (next && !next.socket.destroyed) next.socket.write(upgradeAnswer(next.key));
    }, 4);
    try {
      const out = join(mkdtempSync(join(tmpdir(), 'wsbench-window-')), 'result.json');
      const run = await runCliToEnd(['blast', server.url, '-c', '1200', '--max-handshakes', '1000', '--connect-timeout', '2s', '-d', '0', '--workers', '1', '--out', out], { timeoutMs: 90_000 });
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
      assert.equal(result.outcomes.failed.total, 0, JSON.stringify(result.outcomes.failed.byReason));
      assert.equal(result.outcomes.accepted, 1200);
      assert.ok(result.outcomes.handshakesInFlightLowest! < 1000, `lowered: ${result.outcomes.handshakesInFlightLowest}`);
      assert.ok(result.latency.connect.max_us < 2_000_000);
      assert.match(run.stdout, /handshakes in flight held to [\d,]+ \(of --max-handshakes 1,000\) while connect latency passed 250 ms: how fast the server answered, not --max-handshakes, set the ramp's pace/);
    } finally {
      clearInterval(answering);
      await server.close();
    }
  });
});
