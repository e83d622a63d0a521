/**
 * Evaluate thresholds on a blast result. Latency figures come from the result's HDR histograms
 * (decoded here), not from its rounded summaries. Every threshold is evaluated, including on a
 * metric with no samples: a counter is then 0, and a latency aggregation is null, which fails any
 * bound and says "no samples".
 */
import { decodeHistogram, type Histogram } from '../metrics/histogram.js';
import type { BlastResult } from '../metrics/blast-result.js';
import { isLatencyMetric, isMessageCounter, parseThresholds, type CounterMetric, type Operator, type Threshold } from './thresholds.js';

/** What a threshold measured, in the JSON result: `observed` is in `unit`. */
export interface ThresholdOutcome {
  readonly expression: string;
  readonly ok: boolean;
  /** null when there was nothing to measure (see `note`). */
  readonly observed: number | null;
  readonly unit: 'us' | 'count' | 'per_second' | 'ratio';
  /** The bound, in `unit`. */
  readonly limit: number;
  readonly note?: string;
}

/** The parts of a result that thresholds read (a BlastResult has them all; older or merged ones may lack a few). */
export type GateInput = Pick<BlastResult, 'outcomes' | 'messages' | 'histograms'> & {
  runMs?: number | null;
  latency?: { measures?: BlastResult['latency']['measures'] };
  fanout?: BlastResult['fanout'];
  churn?: BlastResult['churn'];
  /** wsbench find's answer. */
  capacity?: { count: number };
  reconnects?: BlastResult['reconnects'];
};

const compare: Record<Operator, (observed: number, limit: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

/** Evaluate expressions (strings are parsed first; a bad one throws ConfigError) on a result. */
export function evaluate(result: GateInput, expressions: readonly (string | Threshold)[]): ThresholdOutcome[] {
  const thresholds = parseThresholds(expressions);
  const histograms = new Map<string, Histogram>();
  const histogram = (key: HistogramKey): Histogram | undefined => {
    const encoded = (result.histograms as Record<string, string | undefined>)[key];
    if (encoded === undefined) return undefined;
    if (!histograms.has(key)) histograms.set(key, decodeHistogram(encoded));
    return histograms.get(key);
  };
  return thresholds.map((threshold) => {
    const { observed, unit, note } = observe(result, threshold, histogram);
    const ok = observed !== null && compare[threshold.op](observed, threshold.limit);
    return { expression: threshold.expression, ok, observed, unit, limit: threshold.limit, ...(note ? { note } : {}) };
  });
}

type HistogramKey = 'connect_us' | 'roundTrip_us' | 'roundTripRamp_us' | 'connectRun_us' | 'reconnect_us' | 'handshake2_us';

export function allPassed(outcomes: readonly ThresholdOutcome[]): boolean {
  return outcomes.every((outcome) => outcome.ok);
}

function observe(
  result: GateInput,
  threshold: Threshold,
  histogram: (key: HistogramKey) => Histogram | undefined,
): { observed: number | null; unit: ThresholdOutcome['unit']; note?: string } {
  const { metric, aggregation } = threshold;
  if (metric === 'reconnect_time') {
    const source = histogram('reconnect_us');
    if (!source) return { observed: null, unit: 'us', note: 'no samples: reconnects are measured with --reconnect' };
    if (source.totalCount === 0) return { observed: null, unit: 'us', note: 'no samples (no connection was dropped and back)' };
    return { observed: latencyOf(source, aggregation), unit: 'us' };
  }
  if (metric === 'handshake2') {
    const source = histogram('handshake2_us');
    if (!source) return { observed: null, unit: 'us', note: 'no samples: the second handshake is measured with --protocol socketio or graphql-ws' };
    if (source.totalCount === 0) return { observed: null, unit: 'us', note: 'no samples (no connection finished the protocol\'s handshake)' };
    return { observed: latencyOf(source, aggregation), unit: 'us' };
  }
  if (isLatencyMetric(metric)) {
    // Results from before latency.measures were echo runs.
    const measures = result.latency?.measures ?? 'echo';
    const measured = metric === 'connect' || (metric === 'rtt' ? measures === 'echo' || measures === 'reply' : measures === metric);
    if (!measured) return { observed: null, unit: 'us', note: `no samples: this run measured ${measures === 'none' ? 'no latency' : `${measures} latency`}` };
    const key = metric === 'connect' ? 'connect_us' : threshold.phase === 'ramp' ? 'roundTripRamp_us' : 'roundTrip_us';
    const source = histogram(key);
    if (!source) return { observed: null, unit: 'us', note: `the result has no ${key} histogram` };
    if (source.totalCount === 0) return { observed: null, unit: 'us', note: 'no samples' };
    return { observed: latencyOf(source, aggregation), unit: 'us' };
  }
  if (metric === 'fanout') return observeFanout(result, aggregation.kind as 'count' | 'rate' | 'ratio');
  const count = metric === 'connects' ? (histogram('connectRun_us')?.totalCount ?? 0) : counterOf(result, metric);
  if (aggregation.kind === 'count') return { observed: count, unit: 'count' };
  if (aggregation.kind === 'rate') {
    if (metric === 'messages') return { observed: result.messages.perSecond, unit: 'per_second' };
    const runMs = result.runMs ?? null;
    if (runMs === null || runMs <= 0) return { observed: null, unit: 'per_second', note: 'no run phase to divide by' };
    return { observed: (count * 1000) / runMs, unit: 'per_second' };
  }
  const of = isMessageCounter(metric) ? result.messages.sent : result.outcomes.attempted;
  if (of === 0) return { observed: null, unit: 'ratio', note: `no samples (0 ${isMessageCounter(metric) ? 'messages sent' : 'connections attempted'})` };
  return { observed: count / of, unit: 'ratio' };
}

function observeFanout(result: GateInput, kind: 'count' | 'rate' | 'ratio'): { observed: number | null; unit: ThresholdOutcome['unit']; note?: string } {
  const fanout = result.fanout;
  const unit = kind === 'count' ? 'count' : kind === 'rate' ? 'per_second' : 'ratio';
  if (!fanout) return { observed: null, unit, note: 'no samples: fan-out is measured with --publishers' };
  if (fanout.published === 0) return { observed: null, unit, note: 'no samples (0 messages published)' };
  if (kind === 'count') return { observed: fanout.delivered / fanout.published, unit };
  if (kind === 'ratio') {
    if (fanout.expected === 0) return { observed: null, unit, note: 'no expected fan-out to divide by' };
    return { observed: fanout.delivered / (fanout.published * fanout.expected), unit };
  }
  const runMs = result.runMs ?? null;
  if (runMs === null || runMs <= 0) return { observed: null, unit, note: 'no run phase to divide by' };
  return { observed: (fanout.delivered * 1000) / runMs, unit };
}

function latencyOf(histogram: Histogram, aggregation: Threshold['aggregation']): number {
  switch (aggregation.kind) {
    case 'min':
      return histogram.minNonZeroValue;
    case 'max':
      return histogram.maxValue;
    case 'avg':
      return histogram.mean;
    case 'stdev':
      return histogram.stdDeviation;
    case 'med':
      return histogram.getValueAtPercentile(50);
    case 'percentile':
      return histogram.getValueAtPercentile(aggregation.percentile);
    default:
      throw new TypeError(`${aggregation.kind} is not a latency aggregation`);
  }
}

export function counterOf(result: GateInput, metric: CounterMetric): number {
  switch (metric) {
    case 'attempted':
      return result.outcomes.attempted;
    case 'accepted':
      return result.outcomes.accepted;
    case 'rejected':
      return result.outcomes.rejected.total;
    case 'failed':
      return result.outcomes.failed.total;
    case 'dropped':
      return result.outcomes.dropped.total;
    case 'messages':
      return result.messages.received;
    case 'sent':
      return result.messages.sent;
    case 'unanswered':
      return result.messages.unanswered;
    case 'mismatched':
      return result.messages.mismatched;
    case 'unmatched':
      return result.messages.unmatched ?? 0;
    case 'duplicates':
      return result.messages.duplicates ?? 0;
    case 'fanout':
      return result.fanout?.delivered ?? 0;
    case 'connects':
      return result.churn?.connectsDuringRun ?? 0;
    case 'reconnects':
      return result.reconnects?.reconnected ?? 0;
    case 'churned':
      return result.churn?.churned ?? 0;
    case 'capacity':
      return result.capacity?.count ?? 0;
  }
}
