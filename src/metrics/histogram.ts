/**
 * Latency histograms: integer microseconds, 1 µs to 1 hour, 3 significant digits. They cross
 * process boundaries only as compressed base64 snapshots and are merged with `add`; percentiles are
 * never averaged.
 */
import * as hdr from 'hdr-histogram-js';

export const HISTOGRAM_RANGE = { lowestUs: 1, highestUs: 3_600_000_000, significantDigits: 3 } as const;

export type Histogram = hdr.Histogram;

export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: false,
    lowestDiscernibleValue: HISTOGRAM_RANGE.lowestUs,
    highestTrackableValue: HISTOGRAM_RANGE.highestUs,
    numberOfSignificantValueDigits: HISTOGRAM_RANGE.significantDigits,
  });
}

/** Record a latency in µs, clamped into the histogram's range rather than thrown away. */
export function recordUs(histogram: Histogram, microseconds: number): void {
  const value = Math.round(microseconds);
  histogram.recordValue(value < 1 ? 1 : value > HISTOGRAM_RANGE.highestUs ? HISTOGRAM_RANGE.highestUs : value);
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 64, false);
}

/** Merge encoded snapshots into one histogram (of this module's range). */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const merged = createHistogram();
  for (const snapshot of encoded) merged.add(decodeHistogram(snapshot));
  return merged;
}

/** The fixed percentile ladder (wrk2's), in µs, plus mean, stdev, min, max and count. */
export interface LatencySummaryUs {
  count: number;
  min_us: number;
  mean_us: number;
  stdev_us: number;
  p50_us: number;
  p75_us: number;
  p90_us: number;
  p99_us: number;
  p99_9_us: number;
  p99_99_us: number;
  max_us: number;
}

export const PERCENTILES = [
  ['p50_us', 50],
  ['p75_us', 75],
  ['p90_us', 90],
  ['p99_us', 99],
  ['p99_9_us', 99.9],
  ['p99_99_us', 99.99],
] as const;

export function summarize(histogram: Histogram): LatencySummaryUs {
  const empty = histogram.totalCount === 0;
  const summary = {
    count: histogram.totalCount,
    min_us: empty ? 0 : histogram.minNonZeroValue,
    mean_us: empty ? 0 : round(histogram.mean),
    stdev_us: empty ? 0 : round(histogram.stdDeviation),
    max_us: empty ? 0 : histogram.maxValue,
  } as LatencySummaryUs;
  for (const [key, percentile] of PERCENTILES) summary[key] = empty ? 0 : histogram.getValueAtPercentile(percentile);
  return summary;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
