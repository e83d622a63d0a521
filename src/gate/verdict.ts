/**
 * The exit code of a run, decided from its result alone (so a results file gives the same answer):
 *
 *     1  incomplete: a client process ended without reporting (even when interrupted: the figures are partial)
 *   130  interrupted (Ctrl-C, SIGTERM)
 *     1  nothing measured: no connection was accepted, or nothing came back of what the pattern
 *        waits for: no echo (echo, flood), no reply (--reply-id), no message received (subscribe),
 *        no expect matched while some waited (scenario); fire-and-forget waits for nothing
 *     1  the run ended early because every connection ended before --duration (endReason 'idle':
 *        the server went away)
 *     1  --barrier did not release the run (endReason 'barrier': another shard never got there)
 *     1  a partial result (merge --allow-partial: shards missing), unless partialOk
 *    99  a threshold was crossed, or a gated figure regressed past --max-regression against --baseline
 *     0  otherwise
 *
 * Bad input (exit 2) never gets this far: it is refused before any connection opens.
 */
import { ExitCode } from '../config/errors.js';
import type { BlastResult } from '../metrics/blast-result.js';
import type { Comparison } from './compare.js';
import type { ThresholdOutcome } from './evaluate.js';

export interface Verdict {
  readonly exitCode: ExitCode;
  /** One sentence per reason for a non-zero exit code, for stderr. */
  readonly reasons: readonly string[];
}

export type VerdictInput = Pick<BlastResult, 'interrupted' | 'missingClientProcesses' | 'outcomes' | 'messages' | 'config'> & {
  endReason?: BlastResult['endReason'];
  sync?: BlastResult['sync'];
  partial?: BlastResult['partial'];
};

export interface VerdictOptions {
  /** Judge a partial result by its thresholds alone (merge, compare, report --partial-ok). */
  readonly partialOk?: boolean;
}

/** Why a partial result is not a pass, or undefined when it is whole (or partialOk). */
export function partialReason(result: Pick<VerdictInput, 'partial'>, options: VerdictOptions = {}): string | undefined {
  if (!result.partial || options.partialOk) return undefined;
  const { missing, expected } = result.partial;
  return `the result is partial: ${missing.join(', ')} missing of ${expected}; it does not account for the whole load (--partial-ok judges it by its thresholds alone)`;
}

/** gateVerdict, made a failure (exit 1) when the result is partial. */
export function gatedVerdict(result: Pick<VerdictInput, 'partial'>, thresholds: readonly ThresholdOutcome[], comparison?: Comparison, options: VerdictOptions = {}): Verdict {
  const gated = gateVerdict(thresholds, comparison);
  const partial = partialReason(result, options);
  return partial ? { exitCode: ExitCode.runFailed, reasons: [partial, ...gated.reasons] } : gated;
}

export function runVerdict(result: VerdictInput, thresholds: readonly ThresholdOutcome[] = [], comparison?: Comparison, options: VerdictOptions = {}): Verdict {
  const failures: string[] = [];
  const partial = partialReason(result, options);
  if (partial) failures.push(partial);
  if (result.endReason === 'barrier') failures.push(`the barrier did not release the run: ${result.sync?.problem ?? 'another shard did not arrive'}`);
  if (result.missingClientProcesses.length > 0) {
    failures.push(`client process ${result.missingClientProcesses.join(', ')} ended without reporting; the result is incomplete`);
  }
  if (result.interrupted) return failures.length ? { exitCode: ExitCode.runFailed, reasons: failures } : { exitCode: ExitCode.interrupted, reasons: [] };
  if (result.outcomes.accepted === 0) {
    failures.push(`no connection was accepted (of ${result.outcomes.attempted} attempted): nothing was measured`);
  } else {
    const nothing = nothingCameBack(result);
    if (nothing) failures.push(nothing);
  }
  if (result.endReason === 'idle' && result.outcomes.accepted > 0) {
    const dropped = Object.entries(result.outcomes.dropped.byCloseCode).map(([code, count]) => `${count} closed ${code}`);
    failures.push(`every connection ended before --duration: the server went away${dropped.length ? ` (${dropped.join(', ')})` : ''}`);
  }
  if (failures.length) return { exitCode: ExitCode.runFailed, reasons: failures };
  return gateVerdict(thresholds, comparison);
}

/** What the pattern waited for and never got, or undefined. Results from before patterns are echo runs. */
function nothingCameBack(result: VerdictInput): string | undefined {
  const { sent, received, unanswered } = result.messages;
  if (received > 0) return undefined;
  switch (result.config.pattern ?? 'echo') {
    case 'echo':
      return sent > 0 ? `no message was echoed (${sent} sent): nothing was measured; --rate 0 holds idle connections if that is the intent` : undefined;
    case 'reply':
      return sent > 0 ? `no reply matched a request (${sent} sent): nothing was measured` : undefined;
    case 'subscribe':
      // Publishers that published nothing (--rate 0, or -d 0) asked for nothing: as echo's --rate 0.
      if (sent === 0 && Number(result.config.publishers ?? 0) > 0) return undefined;
      return `no message was received (${sent} published): nothing was measured`;
    case 'scenario':
      return unanswered > 0 ? `no expect step was matched (${unanswered} waited in vain): nothing was measured` : undefined;
    case 'fire':
      return result.config.flood && sent > 0 ? `no message was echoed (${sent} sent): nothing was measured` : undefined;
    default:
      return undefined;
  }
}

/** For merged and compared results: only thresholds and regressions decide (99), the data was judged when it was made. */
export function gateVerdict(thresholds: readonly ThresholdOutcome[], comparison?: Comparison): Verdict {
  const reasons: string[] = [];
  const crossed = thresholds.filter((t) => !t.ok).map((t) => t.expression);
  if (crossed.length) reasons.push(`${crossed.length} threshold${crossed.length === 1 ? '' : 's'} crossed: ${crossed.join(', ')}`);
  const regressed = comparison?.figures.filter((f) => f.regressed).map((f) => f.label) ?? [];
  if (regressed.length) reasons.push(`regressed against ${comparison!.baseline.label} by more than ${comparison!.maxRegressionPercent}%: ${regressed.join(', ')}`);
  return { exitCode: reasons.length ? ExitCode.thresholdsCrossed : ExitCode.ok, reasons };
}
