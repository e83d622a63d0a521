/** The per-second timeline: TimelineBuilder's arithmetic, merge's, and a real 3 s run through two client processes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blast } from '../src/index.js';
import { createHistogram, encodeHistogram, recordUs } from '../src/metrics/histogram.js';
import { mergeTimelines, TimelineBuilder, type IntervalSample } from '../src/metrics/timeline.js';
import { delayedEchoServer } from './helpers/servers.js';

function sample(second: number, fields: Partial<IntervalSample> & { rttUs?: number[] }): IntervalSample {
  const histogram = createHistogram();
  for (const us of fields.rttUs ?? []) recordUs(histogram, us);
  return { second, elapsedMs: 1000, received: 0, open: 0, phase: 'run', ...fields, roundTrips: encodeHistogram(histogram) };
}

describe('timeline', () => {
  it('adds the processes of one second: open and rates summed, p99 from the merged histograms', () => {
    const builder = new TimelineBuilder();
    // Process 0: 99 fast round trips; process 1: one slow one. The merged p99 is the fast one's value,
    // while an average of per-process p99s would be ~half the slow one.
    builder.add(0, sample(0, { open: 10, received: 99, rttUs: Array(99).fill(1000), phase: 'ramp' }));
    builder.add(1, sample(0, { open: 5, received: 1, elapsedMs: 500, rttUs: [500_000] }));
    builder.add(0, sample(1, { open: 10, received: 10, rttUs: [] }));
    builder.settle([0, 1]);
    const [first, second, ...rest] = builder.finish();
    assert.deepEqual(first, { t_s: 0, open: 15, messagesPerSecond: 99 + 2, rttP99_us: 1000, phase: 'run' });
    assert.deepEqual(second, { t_s: 1, open: 10, messagesPerSecond: 10, rttP99_us: null, phase: 'run' });
    assert.equal(rest.length, 0);
  });

  it('settle closes only the seconds every live process has reported', () => {
    const builder = new TimelineBuilder();
    builder.add(0, sample(0, { received: 1 }));
    builder.add(0, sample(1, { received: 2 }));
    builder.add(1, sample(0, { received: 3 }));
    builder.settle([0, 1]);
    // A process that has reported second 1 since still counts there.
    builder.add(1, sample(1, { received: 4 }));
    assert.deepEqual(builder.finish().map((e) => e.messagesPerSecond), [4, 6]);
  });

  it('merge of shards: per second, open and rates add up and the p99 is the largest (an upper bound)', () => {
    const merged = mergeTimelines([
      [{ t_s: 0, open: 3, messagesPerSecond: 100, rttP99_us: 900, phase: 'ramp' }, { t_s: 1, open: 3, messagesPerSecond: 50, rttP99_us: null, phase: 'run' }],
      undefined,
      [{ t_s: 1, open: 4, messagesPerSecond: 70, rttP99_us: 1200, phase: 'run' }],
    ]);
    assert.deepEqual(merged, [
      { t_s: 0, open: 3, messagesPerSecond: 100, rttP99_us: 900, phase: 'ramp' },
      { t_s: 1, open: 7, messagesPerSecond: 120, rttP99_us: 1200, phase: 'run' },
    ]);
  });

  it('a real 3 s run has one entry per second with plausible figures', async () => {
    // Every echo waits 20 ms: a closed-loop connection completes at most 50 round trips a second,
    // and no round trip is shorter than 20 ms.
    const server = await delayedEchoServer(20);
    try {
      const result = await blast({ url: server.url, connections: 20, duration: '3s', workers: 2 });
      const timeline = result.timeline!;
      assert.equal(result.outcomes.accepted, 20);
      assert.ok(timeline.length >= 3, `${timeline.length} entries: ${JSON.stringify(timeline)}`);
      assert.deepEqual(timeline.map((e) => e.t_s), timeline.map((_, i) => i), 'one entry per second, in order');
      assert.equal(timeline.at(-1)!.phase, 'run');
      const fullRunSeconds = timeline.slice(0, -1).filter((e) => e.phase === 'run');
      assert.ok(fullRunSeconds.length >= 2, JSON.stringify(timeline));
      for (const entry of fullRunSeconds) {
        assert.equal(entry.open, 20, `every connection open at ${entry.t_s} s`);
        assert.ok(entry.messagesPerSecond > 0 && entry.messagesPerSecond <= 20 * 50 * 1.1, `${entry.messagesPerSecond} msg/s at ${entry.t_s} s`);
        assert.ok(entry.rttP99_us !== null && entry.rttP99_us >= 19_000, `p99 ${entry.rttP99_us} µs at ${entry.t_s} s`);
        assert.ok(entry.rttP99_us <= result.latency.roundTrip.max_us * 1.001, 'a second\'s p99 is within the run\'s round trips');
      }
    } finally {
      await server.close();
    }
  });
});
