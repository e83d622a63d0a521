/**
 * Thresholds: a small language for pass/fail criteria on a blast result, after k6's
 * (metrics/thresholds_parser.go). Parsed and checked before any connection opens; evaluated on the
 * result afterwards (evaluate.ts).
 *
 * Grammar (also in the README):
 *
 *   threshold   = metric [ "{phase:" ( "ramp" | "run" ) "}" ] ":" aggregation op value
 *   metric      = latency-metric | counter-metric
 *   latency     = "rtt" | "reply" | "delivery" | "connect" | "reconnect_time" | "handshake2"
 *   counter     = "attempted" | "accepted" | "rejected" | "failed" | "dropped"          (connections)
 *               | "connects" | "reconnects" | "churned"                                (--lifetime, --reconnect)
 *               | "capacity"                                                      (wsbench find's answer; count only)
 *               | "messages" | "sent" | "unanswered" | "mismatched"                    (messages; "messages" = echoes received)
 *               | "unmatched" | "duplicates" | "fanout"                                (patterns)
 *   aggregation = for latency: "min" | "max" | "avg" | "med" | "stdev" | "p(" N ")"   with 0 <= N <= 100
 *                 for counters: "count" | "rate" | "ratio"
 *   op          = "<" | "<=" | ">" | ">=" | "==" | "!="
 *   value       = number [ unit ]
 *   unit        = latency: "us" | "ms" | "s"; a bare number is ms
 *                 count and rate: "k" (×1,000) | "m" (×1,000,000); ratio: a bare fraction or "%"
 *
 * rtt is the run's round trip, echo or reply; reply only a --reply-id (or scenario) round trip; delivery
 * a subscriber's delivery latency (publisher's {{now_us}} to arrival); reconnect_time the time from a
 * drop to being open again (--reconnect); handshake2 the protocol's own handshake after the upgrade
 * (--protocol socketio: the namespace connect; graphql-ws: connection_ack). connects are the handshakes completed during the run
 * (--lifetime replacements, reconnects): `connects:rate>100`. A latency metric the run did
 * not measure has no samples, and fails. unmatched (replies matching no request) and duplicates
 * take their ratio of messages sent. fanout: count is the observed deliveries per published
 * message, ratio is that over the expected fan-out, rate is deliveries per second of the run.
 *
 * `{phase:...}` applies to rtt, reply and delivery only: round trips during the ramp (connections still opening) or
 * during the run (the default). connect is the ramp by nature; counters are whole-run totals.
 * rate is per second of the run phase (`messages:rate` is the result's echoes per second of the run
 * phase); ratio is of attempted connections for connection counters and of messages sent for
 * message counters. Whitespace around the parts is allowed: `rtt : p(99) < 50 ms`.
 */
import { ConfigError } from '../config/errors.js';

export const LATENCY_METRICS = ['rtt', 'reply', 'delivery', 'connect', 'reconnect_time', 'handshake2'] as const;
export const CONNECTION_COUNTERS = ['attempted', 'accepted', 'rejected', 'failed', 'dropped', 'connects', 'reconnects', 'churned', 'capacity'] as const;
export const MESSAGE_COUNTERS = ['messages', 'sent', 'unanswered', 'mismatched', 'unmatched', 'duplicates', 'fanout'] as const;
export const METRICS = [...LATENCY_METRICS, ...CONNECTION_COUNTERS, ...MESSAGE_COUNTERS] as const;
export const LATENCY_AGGREGATIONS = ['min', 'max', 'avg', 'med', 'stdev', 'p(N)'] as const;
export const COUNTER_AGGREGATIONS = ['count', 'rate', 'ratio'] as const;
export const OPERATORS = ['<', '<=', '>', '>=', '==', '!='] as const;
export const PHASES = ['ramp', 'run'] as const;

export type LatencyMetric = (typeof LATENCY_METRICS)[number];
export type CounterMetric = (typeof CONNECTION_COUNTERS)[number] | (typeof MESSAGE_COUNTERS)[number];
export type Metric = LatencyMetric | CounterMetric;
export type Operator = (typeof OPERATORS)[number];
export type Phase = (typeof PHASES)[number];

export type Aggregation =
  | { kind: 'min' | 'max' | 'avg' | 'med' | 'stdev' }
  | { kind: 'percentile'; percentile: number }
  | { kind: 'count' | 'rate' | 'ratio' };

/** A parsed threshold. `limit` is in the metric's base unit: µs for latency, a plain number otherwise. */
export interface Threshold {
  readonly expression: string;
  readonly metric: Metric;
  readonly phase: Phase;
  readonly aggregation: Aggregation;
  readonly op: Operator;
  readonly limit: number;
}

/** Units as powers of ten, applied to the decimal text, so that 0.9% is exactly 0.009 and 0.3ms exactly 300. */
const latencyUnitUs: Record<string, number> = { '': 3, us: 0, ms: 3, s: 6 };
const countUnit: Record<string, number> = { '': 0, k: 3, m: 6 };
const ratioUnit: Record<string, number> = { '': 0, '%': -2 };

export function isLatencyMetric(metric: Metric): metric is LatencyMetric {
  return (LATENCY_METRICS as readonly string[]).includes(metric);
}

export function isMessageCounter(metric: Metric): boolean {
  return (MESSAGE_COUNTERS as readonly string[]).includes(metric);
}

/**
 * Parse one expression, or throw a ConfigError that names `option`, the expression and what is valid.
 * `option` is the flag or file entry it came from (`--threshold`, `--thresholds t.json [2]`).
 */
export function parseThreshold(expression: string, option = '--threshold'): Threshold {
  const fail = (allowed: string): never => {
    throw new ConfigError(option, expression, allowed);
  };
  if (typeof expression !== 'string') fail('expected a string such as rtt:p(99)<50ms');
  const match = /^\s*([A-Za-z_]\w*)\s*(?:\{([^}]*)\})?\s*:\s*([A-Za-z][\w.]*)\s*(?:\(\s*([^)]*?)\s*\))?\s*(<=|>=|==|!=|<|>)\s*(.*?)\s*$/.exec(expression);
  if (!match) {
    fail('expected metric[{phase:ramp|run}]:aggregation op value, such as rtt:p(99)<50ms or failed:count==0');
  }
  const [, metricText, tagsText, aggregationName, argumentText, op, valueText] = match!;
  const metric = metricText!.toLowerCase() as Metric;
  if (!(METRICS as readonly string[]).includes(metric)) fail(`unknown metric "${metricText}"; valid metrics: ${METRICS.join(', ')}`);
  const latency = isLatencyMetric(metric);

  const phase = parsePhase(tagsText, metric, fail);
  const aggregation = parseAggregation(aggregationName!.toLowerCase(), argumentText, latency, metric, fail);
  const limit = parseValue(valueText!, latency, aggregation, metric, fail);
  return Object.freeze({ expression: expression.trim(), metric, phase, aggregation, op: op as Operator, limit });
}

function parsePhase(tagsText: string | undefined, metric: Metric, fail: (allowed: string) => never): Phase {
  if (tagsText === undefined) return 'run';
  const tag = /^\s*(\w+)\s*:\s*(\w+)\s*$/.exec(tagsText);
  if (!tag || tag[1] !== 'phase') fail(`unknown tag {${tagsText}}; the only tag is {phase:ramp} or {phase:run}`);
  if (!(PHASES as readonly string[]).includes(tag![2]!)) fail(`unknown phase "${tag![2]}"; valid phases: ${PHASES.join(', ')}`);
  if (metric !== 'rtt' && metric !== 'reply' && metric !== 'delivery') fail(`{phase:...} applies to rtt, reply and delivery only; ${metric} has no phases`);
  return tag![2] as Phase;
}

function parseAggregation(
  name: string,
  argumentText: string | undefined,
  latency: boolean,
  metric: Metric,
  fail: (allowed: string) => never,
): Aggregation {
  const valid = latency ? LATENCY_AGGREGATIONS : COUNTER_AGGREGATIONS;
  const unsupported = () => fail(`${metric} takes ${valid.join(', ')}, not "${name}${argumentText === undefined ? '' : `(${argumentText})`}"`);
  if (latency && name === 'p') {
    const percentile = argumentText !== undefined && /^\d+(\.\d+)?$/.test(argumentText) ? Number(argumentText) : Number.NaN;
    if (!(percentile >= 0 && percentile <= 100)) fail(`p(N) takes a percentile N from 0 to 100, such as p(99) or p(99.9)`);
    return { kind: 'percentile', percentile };
  }
  if (argumentText !== undefined || !(valid as readonly string[]).includes(name)) return unsupported();
  return { kind: name } as Aggregation;
}

function parseValue(valueText: string, latency: boolean, aggregation: Aggregation, metric: Metric, fail: (allowed: string) => never): number {
  const table = latency ? latencyUnitUs : aggregation.kind === 'ratio' ? ratioUnit : countUnit;
  const what = latency
    ? 'a duration in us, ms or s (a bare number is ms), such as 50ms'
    : aggregation.kind === 'ratio'
      ? 'a fraction such as 0.01, or a percentage such as 1%'
      : 'a number, with k or m allowed, such as 10k';
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z%]*)$/i.exec(valueText);
  if (!match) fail(`expected ${what} after the operator, not "${valueText}"`);
  const unit = match![2]!.toLowerCase();
  const exponent = table[unit];
  if (exponent === undefined) fail(`unknown unit "${match![2]}" for ${metric}:${aggregationLabel(aggregation)}; expected ${what}`);
  return Number(`${match![1]}e${exponent}`);
}

export function aggregationLabel(aggregation: Aggregation): string {
  return aggregation.kind === 'percentile' ? `p(${aggregation.percentile})` : aggregation.kind;
}

/** Parse every expression up front, so that one bad one stops the run before it starts. */
export function parseThresholds(expressions: readonly (string | Threshold)[], option = '--threshold'): Threshold[] {
  return expressions.map((expression) => (typeof expression === 'string' ? parseThreshold(expression, option) : expression));
}
