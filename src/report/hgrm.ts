/**
 * HdrHistogram's percentile distribution text (`.hgrm`), the format HdrHistogram's plotter and
 * wrk2 read: one histogram per file, values in milliseconds (the result's µs divided by 1000),
 * 5 ticks per half distance. An empty histogram has no distribution and gets no file.
 */
import { decodeHistogram } from '../metrics/histogram.js';
import { REPORTED_HISTOGRAMS, type ReportedHistogram, type ReportInput } from './report-input.js';

/** µs recorded, ms printed. */
export const HGRM_VALUE_SCALING = 1000;
const TICKS_PER_HALF_DISTANCE = 5;

export interface HgrmFile {
  readonly histogram: ReportedHistogram;
  readonly text: string;
}

/** One .hgrm text per histogram that has samples. */
export function formatHgrm(result: ReportInput): HgrmFile[] {
  return REPORTED_HISTOGRAMS.flatMap((histogram) => {
    const encoded = result.histograms[histogram.key];
    if (typeof encoded !== 'string') return [];
    const decoded = decodeHistogram(encoded);
    if (decoded.totalCount === 0) return [];
    return [{ histogram, text: decoded.outputPercentileDistribution(TICKS_PER_HALF_DISTANCE, HGRM_VALUE_SCALING) }];
  });
}

/** For stdout: every histogram's distribution, each under a `#` heading that names it and the unit. */
export function formatHgrmSections(result: ReportInput): string {
  return formatHgrm(result)
    .map((file) => `# wsbench ${file.histogram.label}, values in ms\n${file.text}`)
    .join('\n');
}

export interface PercentilePoint {
  /** Latency in ms. */
  readonly valueMs: number;
  /** 0 to 1. */
  readonly percentile: number;
  /** 1 / (1 - percentile): HdrHistogram's x axis (1 = 0%, 10 = 90%, 100 = 99%, …). */
  readonly inverse: number;
}

/**
 * The points of the .hgrm text, as HdrHistogram's plotter reads them: the last line (percentile 1,
 * where 1/(1-p) is infinite) is left out, as the plotter leaves it.
 */
export function percentilePoints(hgrm: string): PercentilePoint[] {
  const points: PercentilePoint[] = [];
  for (const line of hgrm.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length !== 4 || !/^[\d.]+$/.test(cells[0]!)) continue;
    points.push({ valueMs: Number(cells[0]), percentile: Number(cells[1]), inverse: Number(cells[3]) });
  }
  return points;
}
