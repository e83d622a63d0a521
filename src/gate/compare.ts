/**
 * Compare two blast results figure by figure: latency percentiles computed from the histograms,
 * messages per second and connection counts, with the change in percent. Five figures are gated
 * (rtt p99, connect p99, msg/s, accepted, failed): each may be at most `maxRegressionPercent` worse
 * than the baseline, in its own bad direction (higher latency or failures, lower throughput or
 * acceptance). A failure count that was 0 regresses at the first failure.
 */
import { ConfigError } from '../config/errors.js';
import { parsePercent } from '../config/units.js';
import { decodeHistogram } from '../metrics/histogram.js';
import type { BlastResult } from '../metrics/blast-result.js';

export type CompareInput = Pick<BlastResult, 'outcomes' | 'messages' | 'histograms'>;

export interface ComparedFigure {
  readonly key: string;
  readonly label: string;
  readonly unit: 'us' | 'count' | 'per_second';
  readonly baseline: number | null;
  readonly current: number | null;
  /** (current - baseline) / baseline, in percent; null when the baseline is 0 or missing. */
  readonly changePercent: number | null;
  readonly gated: boolean;
  readonly regressed: boolean;
  readonly note?: string;
}

export interface Comparison {
  readonly baseline: { label: string };
  readonly current: { label: string };
  readonly maxRegressionPercent: number;
  readonly ok: boolean;
  readonly figures: readonly ComparedFigure[];
}

export const DEFAULT_MAX_REGRESSION_PERCENT = 10;

interface FigureSpec {
  key: string;
  label: string;
  unit: ComparedFigure['unit'];
  /** Which way is worse, for gated figures. */
  worse?: 'higher' | 'lower';
  read: (result: CompareInput, latency: (key: 'connect_us' | 'roundTrip_us', percentile: number | 'max') => number | null) => number | null;
}

const FIGURES: readonly FigureSpec[] = [
  { key: 'connect_p50_us', label: 'connect p50', unit: 'us', read: (_, l) => l('connect_us', 50) },
  { key: 'connect_p99_us', label: 'connect p99', unit: 'us', worse: 'higher', read: (_, l) => l('connect_us', 99) },
  { key: 'rtt_p50_us', label: 'rtt p50', unit: 'us', read: (_, l) => l('roundTrip_us', 50) },
  { key: 'rtt_p90_us', label: 'rtt p90', unit: 'us', read: (_, l) => l('roundTrip_us', 90) },
  { key: 'rtt_p99_us', label: 'rtt p99', unit: 'us', worse: 'higher', read: (_, l) => l('roundTrip_us', 99) },
  { key: 'rtt_p99_9_us', label: 'rtt p99.9', unit: 'us', read: (_, l) => l('roundTrip_us', 99.9) },
  { key: 'rtt_max_us', label: 'rtt max', unit: 'us', read: (_, l) => l('roundTrip_us', 'max') },
  { key: 'messages_per_second', label: 'msg/s', unit: 'per_second', worse: 'lower', read: (r) => r.messages.perSecond },
  { key: 'accepted', label: 'accepted', unit: 'count', worse: 'lower', read: (r) => r.outcomes.accepted },
  { key: 'failed', label: 'failed', unit: 'count', worse: 'higher', read: (r) => r.outcomes.failed.total },
];

/** `10%` or `10` → 10 (percent). */
export function parseMaxRegression(value: string | number | undefined, option = '--max-regression'): number {
  if (value === undefined) return DEFAULT_MAX_REGRESSION_PERCENT;
  const percent = parsePercent(String(value));
  if (!(percent >= 0 && percent <= 1000)) throw new ConfigError(option, value, 'expected a percentage from 0% to 1000%, such as 10%');
  return percent;
}

export function compareResults(
  baseline: CompareInput,
  current: CompareInput,
  options: { maxRegressionPercent?: number; baselineLabel?: string; currentLabel?: string } = {},
): Comparison {
  const maxRegressionPercent = options.maxRegressionPercent ?? DEFAULT_MAX_REGRESSION_PERCENT;
  const readBaseline = latencyReader(baseline);
  const readCurrent = latencyReader(current);
  const figures = FIGURES.map((spec): ComparedFigure => {
    const before = spec.read(baseline, readBaseline);
    const after = spec.read(current, readCurrent);
    const changePercent = before === null || after === null ? null : before === 0 ? (after === 0 ? 0 : null) : ((after - before) / before) * 100;
    const figure = { key: spec.key, label: spec.label, unit: spec.unit, baseline: before, current: after, changePercent, gated: spec.worse !== undefined };
    if (!spec.worse) return { ...figure, regressed: false };
    if (before === null) return { ...figure, regressed: false, note: 'no samples in the baseline' };
    if (after === null) return { ...figure, regressed: true, note: 'no samples' };
    const tolerance = maxRegressionPercent / 100;
    const regressed = spec.worse === 'higher' ? after > before * (1 + tolerance) : after < before * (1 - tolerance);
    return { ...figure, regressed };
  });
  return {
    baseline: { label: options.baselineLabel ?? 'baseline' },
    current: { label: options.currentLabel ?? 'current' },
    maxRegressionPercent,
    ok: figures.every((f) => !f.regressed),
    figures,
  };
}

function latencyReader(result: CompareInput) {
  const decoded = new Map<string, ReturnType<typeof decodeHistogram>>();
  return (key: 'connect_us' | 'roundTrip_us', percentile: number | 'max'): number | null => {
    const encoded = result.histograms[key];
    if (typeof encoded !== 'string') return null;
    if (!decoded.has(key)) decoded.set(key, decodeHistogram(encoded));
    const histogram = decoded.get(key)!;
    if (histogram.totalCount === 0) return null;
    return percentile === 'max' ? histogram.maxValue : histogram.getValueAtPercentile(percentile);
  };
}
