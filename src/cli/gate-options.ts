/** The gate's options and output, shared by the commands that produce a result (blast, merge). */
import type { Command } from 'commander';
import { DEFAULT_MAX_REGRESSION_PERCENT } from '../gate/compare.js';
import type { GatedResult } from '../gate/gate-plan.js';
import { addOptions, type OptionSpec, type OptionValues } from '../config/option-table.js';
import type { Verdict } from '../gate/verdict.js';
import { formatComparison, formatThresholds } from '../report/gate-text.js';
import type { CliIo } from './io.js';

/** The gate's options, declared once for every command that has them (option-table.ts). */
export const GATE_OPTIONS = [
  { flags: '--threshold <expr>', kind: 'text', repeatable: true, cli: true, help: "pass/fail criterion, e.g. 'rtt:p(99)<50ms' or 'failed:count==0' (repeatable); a crossed one exits 99" },
  { flags: '--thresholds <file>', kind: 'file', cli: true, help: 'thresholds from a JSON or YAML (.yaml/.yml) file: {"thresholds": ["rtt:p(99)<50ms", ...]} or a list' },
  { flags: '--baseline <file>', kind: 'file', cli: true, help: 'compare with this result file; a gated figure worse by more than --max-regression exits 99' },
  { flags: '--max-regression <percent>', kind: 'percent', default: DEFAULT_MAX_REGRESSION_PERCENT, cli: true, help: 'tolerance for --baseline' },
] as const satisfies readonly OptionSpec[];

export type GateFlags = OptionValues<typeof GATE_OPTIONS>;

export function addGateOptions(command: Command): Command {
  return addOptions(command, GATE_OPTIONS);
}

/** Thresholds first, then the command's own summary, then the comparison with the baseline. */
export function formatGated(result: GatedResult<object>, summary: string): string {
  return formatThresholds(result.thresholds) + summary + (result.comparison ? '\n' + formatComparison(result.comparison) : '');
}

/** Say why the exit code is not 0 (one line each, on stderr) and return it. */
export function reportVerdict(io: CliIo, verdict: Verdict): number {
  for (const reason of verdict.reasons) io.stderr.write(`wsbench: ${reason}\n`);
  return verdict.exitCode;
}

export const GATE_HELP = `
Thresholds: metric[{phase:ramp|run}]:aggregation op value
  latency (rtt reply delivery connect reconnect_time handshake2): min max avg med stdev p(N); units us, ms, s (a bare number is ms)
  counters (attempted accepted rejected failed dropped connects reconnects churned messages sent unanswered
    mismatched unmatched duplicates fanout):
    count, rate (per second of the run phase), ratio (of attempted, or of messages sent); k and m allowed
  ops: < <= > >= == !=     e.g. 'rtt:p(99)<50ms' 'failed:count==0' 'dropped:ratio<0.01' 'rtt{phase:ramp}:p(99)<1s'`;
