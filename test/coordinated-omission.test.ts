/**
 * Coordinated omission, tested where it happens: the generator itself stalls (its event loop is
 * blocked for 1 s), so sends go out late. Timed from the intended send, the stall shows in the
 * percentiles; timed from the actual send, as a naive client would, it would vanish.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHistogram, summarize } from '../src/metrics/histogram.js';
import { serve } from '../src/serve/server.js';
import { generatorFor } from './helpers/generator.js';

describe('coordinated omission', () => {
  it('paced latency counts from the intended send time, so a stall of the sender itself is seen', async () => {
    const server = await serve({ port: 0, max: 10, workers: 1 });
    try {
      const generator = generatorFor(server.url, { maxHandshakes: 10, rate: 100 });
      generator.start();
      while (!generator.rampDone) await new Promise((resolve) => setTimeout(resolve, 10));
      generator.startRun();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const blockedUntil = Date.now() + 1000;
      while (Date.now() < blockedUntil) {
        // The sender stalls: nothing is sent or received for a second.
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const snapshot = await generator.stop();
      await generator.close();
      const latency = summarize(decodeHistogram(snapshot.runRoundTripHistogram));
      // ~100 of the ~600 sends per connection were due during the stall and went out up to 1 s late.
      assert.ok(latency.max_us >= 900_000, `max ${latency.max_us} µs`);
      assert.ok(latency.p90_us >= 200_000, `p90 ${latency.p90_us} µs`);
      assert.ok(latency.p50_us < 100_000, `p50 ${latency.p50_us} µs`);
      assert.equal(snapshot.counters.mismatched, 0);
    } finally {
      await server.close();
    }
  });
});
