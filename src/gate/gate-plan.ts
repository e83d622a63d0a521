/**
 * The gate of one command (blast, merge): its thresholds and baseline, resolved before any work, and
 * applied to the result afterwards. The result gains `thresholds` (always, [] without any) and,
 * with a baseline, `comparison`.
 */
import type { BlastResult } from '../metrics/blast-result.js';
import { compareResults, parseMaxRegression, type Comparison } from './compare.js';
import { evaluate, type ThresholdOutcome } from './evaluate.js';
import { readResultFile, readThresholdsFile } from './files.js';
import { parseThresholds, type Threshold } from './thresholds.js';
import { ConfigError } from '../config/errors.js';

export interface GateOptions {
  /** Threshold expressions (--threshold, repeatable). */
  threshold?: readonly string[];
  /** A JSON file of expressions (--thresholds). */
  thresholds?: string;
  /** A result file to compare with (--baseline). */
  baseline?: string;
  /** Tolerance for --baseline, `10%` by default (--max-regression). */
  maxRegression?: string | number;
}

export interface GatePlan {
  readonly thresholds: readonly Threshold[];
  readonly baseline: { readonly path: string; readonly result: BlastResult } | undefined;
  readonly maxRegressionPercent: number;
}

export type GatedResult<R = BlastResult> = R & { thresholds: ThresholdOutcome[]; comparison?: Comparison };

/** Parse and read everything the gate needs; throws ConfigError (exit 2) on any bad part. */
export function resolveGate(options: GateOptions): GatePlan {
  const thresholds = [
    ...parseThresholds(options.threshold ?? [], '--threshold'),
    ...(options.thresholds === undefined ? [] : readThresholdsFile(options.thresholds)),
  ];
  const capacity = thresholds.find((t) => t.metric === 'capacity');
  if (capacity) throw new ConfigError('--threshold', capacity.expression, 'capacity is the answer of wsbench find (wsbench find URL --until … --threshold capacity:count>=N)');
  const maxRegressionPercent = parseMaxRegression(options.maxRegression);
  const baseline = options.baseline === undefined ? undefined : { path: options.baseline, result: readResultFile('--baseline', options.baseline) };
  return { thresholds, baseline, maxRegressionPercent };
}

export function applyGate<R extends BlastResult>(result: R, plan: GatePlan): GatedResult<R> {
  const thresholds = evaluate(result, plan.thresholds);
  const comparison = plan.baseline
    ? compareResults(plan.baseline.result, result, { maxRegressionPercent: plan.maxRegressionPercent, baselineLabel: plan.baseline.path, currentLabel: 'this run' })
    : undefined;
  return { ...result, thresholds, ...(comparison ? { comparison } : {}) };
}
