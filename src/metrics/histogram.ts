/**
 * Latency histograms: integer microseconds, 1 µs to 1 hour, 3 significant digits. They cross
 * process boundaries only as compressed base64 snapshots and are merged with `add`; percentiles are
 * never averaged.
 */
import { createRequire } from 'node:module';
import type * as hdr from 'hdr-histogram-js';
import { forcedOff, off, on, type FastPathVerdict } from '../runtime/fast-paths.js';

export const HISTOGRAM_RANGE = { lowestUs: 1, highestUs: 3_600_000_000, significantDigits: 3 } as const;

export type Histogram = hdr.Histogram;

/** What this module uses of hdr-histogram-js: a histogram of 64-bit counts, and its compressed base64 form. */
interface HdrParts {
  /** Where they came from: the JavaScript histogram's own modules, or the package's index. */
  readonly from: 'modules' | 'index';
  build(): Histogram;
  encode(histogram: Histogram): string;
  decode(encoded: string): Histogram;
}

/**
 * The package's index also loads its WebAssembly build (decoded and compiled at load) and its log
 * writer (which makes an Intl.NumberFormat): about 45 ms of every wsbench process's start, for
 * parts never used here. So the JavaScript histogram and its encoding are loaded from their own
 * modules (those the index itself loads, composed as its build, encodeIntoCompressedBase64 and
 * decodeFromCompressedBase64 compose them for a JavaScript histogram), and from the index where
 * this version of the package does not have them. A test checks both give the same bytes.
 */
function loadHdr(): HdrParts {
  const fromHere = createRequire(import.meta.url);
  try {
    const fromPackage = createRequire(fromHere.resolve('hdr-histogram-js'));
    const { constructorFromBucketSize } = fromPackage('./JsHistogramFactory.js') as { constructorFromBucketSize(size: number): HistogramConstructor };
    // Loading it gives JsHistogram its encodeIntoCompressedBase64 and decode.
    const encoding = fromPackage('./JsHistogram.encoding.js') as { decompress(data: Uint8Array): Uint8Array };
    const { JsHistogram } = fromPackage('./JsHistogram.js') as { JsHistogram: { decode(data: Uint8Array, bitBucketSize: number, minBar: number): Histogram } };
    const base64 = fromPackage('base64-js') as { toByteArray(text: string): Uint8Array };
    const Histogram64 = constructorFromBucketSize(64);
    if (typeof Histogram64 !== 'function' || typeof encoding.decompress !== 'function' || typeof JsHistogram.decode !== 'function') throw new Error('not this shape');
    return {
      from: 'modules',
      build: () => {
        const histogram = new Histogram64(HISTOGRAM_RANGE.lowestUs, HISTOGRAM_RANGE.highestUs, HISTOGRAM_RANGE.significantDigits);
        histogram.autoResize = false;
        return histogram;
      },
      encode: (histogram) => (histogram as Histogram & { encodeIntoCompressedBase64(): string }).encodeIntoCompressedBase64(),
      decode: (encoded) => JsHistogram.decode(encoding.decompress(base64.toByteArray(encoded.trim())), 64, 0),
    };
  } catch {
    return hdrIndex(fromHere('hdr-histogram-js') as typeof hdr);
  }
}

type HistogramConstructor = new (lowest: number, highest: number, digits: number) => Histogram;

/** The same parts, through the package's index (and its own build options). */
export function hdrIndex(index: typeof hdr): HdrParts {
  return {
    from: 'index',
    build: () =>
      index.build({
        bitBucketSize: 64,
        autoResize: false,
        lowestDiscernibleValue: HISTOGRAM_RANGE.lowestUs,
        highestTrackableValue: HISTOGRAM_RANGE.highestUs,
        numberOfSignificantValueDigits: HISTOGRAM_RANGE.significantDigits,
      }),
    encode: (histogram) => index.encodeIntoCompressedBase64(histogram),
    decode: (encoded) => index.decodeFromCompressedBase64(encoded, 64, false),
  };
}

export const HDR: HdrParts = loadHdr();

export function createHistogram(): Histogram {
  return HDR.build();
}

/** Record a latency in µs, clamped into the histogram's range rather than thrown away. */
export function recordUs(histogram: Histogram, microseconds: number): void {
  const rounded = Math.round(microseconds);
  const value = rounded < 1 ? 1 : rounded > HISTOGRAM_RANGE.highestUs ? HISTOGRAM_RANGE.highestUs : rounded;
  if (value < 2 ** 31 && FAST_RECORDING) recordFast(histogram as unknown as HdrInternals, value);
  else histogram.recordValue(value);
}

/**
 * The parts of hdr-histogram-js's JsHistogram (3.0.x) that recordValue itself uses. recordValue
 * finds a value's bucket with Math.log2 and Math.pow, in floating point, and is most of the cost of
 * recording a round trip (blast records one per echo). For a value under 2^31 the same index comes
 * from Math.clz32 and shifts; recordFast then does what recordSingleValue does with it. Whether the
 * library still has this shape, and gives the same index, is checked once below: if not, every
 * value goes through recordValue.
 */
interface HdrInternals {
  readonly subBucketHalfCountMagnitude: number;
  readonly subBucketHalfCount: number;
  readonly unitMagnitude: number;
  readonly countsArrayLength: number;
  countsArrayIndex(value: number): number;
  incrementCountAtIndex(index: number): void;
  updateMinAndMax(value: number): void;
  incrementTotalCount(): void;
}

function fastIndex(histogram: HdrInternals, value: number): number {
  const bucket = Math.max(31 - Math.clz32(value) - histogram.subBucketHalfCountMagnitude - histogram.unitMagnitude, 0);
  return ((bucket + 1) << histogram.subBucketHalfCountMagnitude) + (value >>> (bucket + histogram.unitMagnitude)) - histogram.subBucketHalfCount;
}

function recordFast(histogram: HdrInternals, value: number): void {
  histogram.incrementCountAtIndex(fastIndex(histogram, value));
  histogram.updateMinAndMax(value);
  histogram.incrementTotalCount();
}

/**
 * Does this hdr-histogram-js have the internals recordFast uses, giving the indexes its own code
 * gives for values across the whole range? (A test asserts it; WSBENCH_PORTABLE=histogramIndex
 * turns it off.)
 */
export const FAST_RECORDING = !forcedOff('histogramIndex') && ((): boolean => {
  try {
    const probe = createHistogram() as unknown as HdrInternals;
    for (const name of ['countsArrayIndex', 'incrementCountAtIndex', 'updateMinAndMax', 'incrementTotalCount'] as const) {
      if (typeof probe[name] !== 'function') return false;
    }
    for (let value = 1; value < 2 ** 31; value = value * 1.37 + 1) {
      const whole = Math.floor(value);
      for (const v of [whole, whole + 1, 2 ** Math.floor(Math.log2(whole)), 2 ** Math.floor(Math.log2(whole)) - 1]) {
        if (v >= 1 && v < 2 ** 31 && fastIndex(probe, v) !== probe.countsArrayIndex(v)) return false;
      }
    }
    return fastIndex(probe, 2 ** 31 - 1) < probe.countsArrayLength;
  } catch {
    return false;
  }
})();

/** The histogram fast path's verdict, for the result's runtime report. */
export function histogramIndexVerdict(): FastPathVerdict {
  const forced = forcedOff('histogramIndex');
  if (forced) return off(forced);
  return FAST_RECORDING ? on() : off("hdr-histogram-js's bucket index differs from recordFast's");
}

export function encodeHistogram(histogram: Histogram): string {
  return HDR.encode(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  return HDR.decode(encoded);
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
