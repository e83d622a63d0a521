/**
 * What every report reads: a blast result as written to results/ (or by merge), with the gate's
 * `thresholds` and `comparison` when the run had them, and the exit code the result implies.
 */
import type { Comparison } from '../gate/compare.js';
import type { ThresholdOutcome } from '../gate/evaluate.js';
import { runVerdict, type Verdict } from '../gate/verdict.js';
import type { BlastResult } from '../metrics/blast-result.js';

export type ReportInput = BlastResult & { thresholds?: readonly ThresholdOutcome[]; comparison?: Comparison };

/** The histograms a report shows, in order: key in the result, file-name suffix, label. */
export const REPORTED_HISTOGRAMS = [
  { key: 'connect_us', name: 'connect', label: 'connect (ramp)' },
  { key: 'roundTrip_us', name: 'rtt', label: 'round trip (run)' },
  { key: 'roundTripRamp_us', name: 'rtt-ramp', label: 'round trip (ramp)' },
  // --protocol socketio, graphql-ws: the namespace connect or connection_ack after the upgrade.
  { key: 'handshake2_us', name: 'handshake2', label: 'protocol handshake' },
] as const;

export type ReportedHistogram = (typeof REPORTED_HISTOGRAMS)[number];

/** The exit code this result implies, and why: what the run's own verdict was. */
export function reportVerdict(result: ReportInput): Verdict {
  return runVerdict(result, result.thresholds ?? [], result.comparison);
}
