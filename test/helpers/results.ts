/** Made-up blast results for the gate's unit tests: real encoded histograms from known samples. */
import { createHistogram, encodeHistogram, recordUs, summarize } from '../../src/metrics/histogram.js';
import type { BlastResult } from '../../src/metrics/blast-result.js';

export interface FakeRun {
  connectUs?: number[];
  rttUs?: number[];
  rampRttUs?: number[];
  attempted?: number;
  accepted?: number;
  rejected?: Record<string, number>;
  failed?: Record<string, number>;
  dropped?: Record<string, number>;
  sent?: number;
  received?: number;
  unanswered?: number;
  mismatched?: number;
  perSecond?: number;
  runMs?: number | null;
  rampMs?: number | null;
  endReason?: BlastResult['endReason'];
  interrupted?: boolean;
  config?: Record<string, unknown>;
}

const total = (table: Record<string, number>) => Object.values(table).reduce((a, b) => a + b, 0);

function histogramOf(samples: number[]) {
  const histogram = createHistogram();
  for (const us of samples) recordUs(histogram, us);
  return histogram;
}

export function fakeResult(run: FakeRun = {}): BlastResult {
  const rejected = run.rejected ?? {};
  const failed = run.failed ?? {};
  const dropped = run.dropped ?? {};
  const accepted = run.accepted ?? 10;
  const connect = histogramOf(run.connectUs ?? []);
  const roundTrip = histogramOf(run.rttUs ?? []);
  const ramp = histogramOf(run.rampRttUs ?? []);
  const startedAt = Date.parse('2025-01-01T00:00:00Z');
  return {
    schemaVersion: 2,
    tool: { name: 'wsbench', version: '0.1.0' },
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(startedAt + 2000).toISOString(),
    durationMs: 2000,
    rampMs: run.rampMs === undefined ? 500 : run.rampMs,
    runMs: run.runMs === undefined ? 1500 : run.runMs,
    endReason: run.endReason ?? 'duration',
    interrupted: run.interrupted ?? false,
    missingClientProcesses: [],
    target: { url: 'ws://127.0.0.1:8000/ws', ownServer: false },
    config: { connections: run.attempted ?? accepted + total(rejected) + total(failed), rate: null, headers: {}, shard: null, ...run.config },
    plan: { workers: 1, connectionsPerWorker: [accepted], sourceMode: 'auto-loopback', sourceAddresses: ['127.1.2.3'] },
    outcomes: {
      attempted: run.attempted ?? accepted + total(rejected) + total(failed),
      accepted,
      rejected: { total: total(rejected), byStatus: rejected },
      failed: { total: total(failed), byReason: failed, generatorLimits: {}, timeoutsWhileClientStalled: 0 },
      dropped: { total: total(dropped), byCloseCode: dropped },
      addressRetries: 0,
    },
    messages: {
      sent: run.sent ?? 0,
      received: run.received ?? 0,
      receivedDuringRamp: 0,
      unanswered: run.unanswered ?? 0,
      mismatched: run.mismatched ?? 0,
      delayedSends: 0,
      bytesSent: 0,
      bytesReceived: 0,
      perSecond: run.perSecond ?? 0,
      bytesPerSecond: 0,
      unmatched: 0,
      duplicates: 0,
      subscribed: 0,
      delivered: 0,
      completed: 0,
    },
    fanout: null,
    latency: {
      measures: 'echo',
      roundTripMeasuredFrom: 'actual-send',
      coordinatedOmissionCorrected: false,
      range: { lowestUs: 1, highestUs: 3_600_000_000, significantDigits: 3 },
      connect: summarize(connect),
      roundTrip: summarize(roundTrip),
      phases: { ramp: { roundTrip: summarize(ramp) }, run: { roundTrip: summarize(roundTrip) } },
    },
    histograms: { connect_us: encodeHistogram(connect), roundTrip_us: encodeHistogram(roundTrip), roundTripRamp_us: encodeHistogram(ramp) },
    generator: { workers: [], bottleneck: false, busyCpuPercent: 85, busyEventLoopDelayP99Ms: 50 },
    environment: {},
  };
}

/** 1..n µs scaled: `n` samples evenly spread from `from` to `to` µs. */
export function spread(n: number, from: number, to: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(from + ((to - from) * i) / Math.max(1, n - 1)));
}
