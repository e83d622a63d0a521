/** The programmatic API: what the CLI does, callable from code, with progress events. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blast, resolveBlastConfig, serve, type BlastProgress } from '../src/index.js';

describe('API', () => {
  it('blast() against serve() returns the JSON result and emits progress', async () => {
    const server = await serve({ port: 0, max: 30, workers: 1 });
    try {
      const progress: BlastProgress[] = [];
      let started = '';
      const result = await blast(
        { url: server.url, connections: 40, duration: '30s', messages: 5, binary: true, size: 100 },
        { onProgress: (p) => progress.push(p), onStart: (s) => (started = s.url) },
      );
      assert.equal(started, server.url);
      assert.equal(result.outcomes.accepted, 30);
      assert.deepEqual(result.outcomes.rejected.byStatus, { 503: 10 });
      // --messages: exactly 5 each, all echoed, then the run ends without waiting out the duration.
      assert.equal(result.messages.sent, 150);
      assert.equal(result.messages.received, 150);
      assert.equal(result.messages.mismatched, 0);
      assert.equal(result.messages.bytesReceived, 15_000);
      assert.ok(result.durationMs < 15_000, `ended when the quota was done, not at 30 s (${result.durationMs} ms)`);
      assert.ok(progress.length > 0);
      assert.deepEqual([...new Set(progress.map((p) => p.phase))].at(-1), 'closing');
      assert.equal(progress.at(-1)!.counters.attempted, 40);
      // The result is plain JSON data.
      assert.deepEqual(JSON.parse(JSON.stringify(result)), result);
    } finally {
      await server.close();
    }
  });

  it('--pipeline keeps N messages in flight per connection, every echo checked', async () => {
    const server = await serve({ port: 0, max: 10, workers: 1 });
    try {
      const result = await blast({ url: server.url, connections: 4, pipeline: 8, messages: 200 });
      assert.equal(result.messages.sent, 800);
      assert.equal(result.messages.received, 800);
      assert.equal(result.messages.mismatched, 0);
      assert.equal(result.latency.roundTrip.count, 800);
      assert.throws(() => resolveBlastConfig({ pipeline: 4, rate: 10 }), /-p, --pipeline: 4 is not valid; pipelining is for the closed loop/);
    } finally {
      await server.close();
    }
  });

  it('an aborted blast still returns what it measured, marked interrupted', async () => {
    const server = await serve({ port: 0, max: 10, workers: 1 });
    try {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 1500);
      const result = await blast({ url: server.url, connections: 10, duration: '60s' }, { signal: abort.signal });
      assert.equal(result.interrupted, true);
      assert.equal(result.outcomes.accepted, 10);
      assert.ok(result.durationMs < 20_000);
      assert.ok(result.messages.received > 0);
      // The generator reports its own load while holding, and apart from it while opening.
      const health = result.generator.workers[0]!;
      assert.equal(health.phase, 'run');
      assert.ok(health.cpuPercent > 0 && health.ramp.cpuPercent >= 0);
    } finally {
      await server.close();
    }
  });
});
