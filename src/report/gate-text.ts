/** Threshold outcomes and comparisons for a terminal: pure functions from data to plain ASCII text. */
import type { ThresholdOutcome } from '../gate/evaluate.js';
import type { Comparison } from '../gate/compare.js';
import { formatCount, formatMs } from './format.js';

export function formatObserved(observed: number | null, unit: ThresholdOutcome['unit']): string {
  if (observed === null) return 'none';
  switch (unit) {
    case 'us':
      return `${formatMs(observed)} ms`;
    case 'count':
      return formatCount(observed);
    case 'per_second':
      return `${formatCount(observed)}/s`;
    case 'ratio':
      return `${Number(observed.toPrecision(4))} (${Number((observed * 100).toPrecision(4))}%)`;
  }
}

/** `PASS  rtt:p(99)<50ms  observed 12.34 ms`, one line each, the first line a heading. */
export function formatThresholds(outcomes: readonly ThresholdOutcome[]): string {
  if (outcomes.length === 0) return '';
  const passed = outcomes.filter((o) => o.ok).length;
  const width = Math.max(...outcomes.map((o) => o.expression.length));
  const lines = [`Thresholds: ${passed} of ${outcomes.length} passed${passed === outcomes.length ? '' : ', THRESHOLDS CROSSED'}`];
  for (const o of outcomes) {
    const observed = `observed ${formatObserved(o.observed, o.unit)}${o.note ? ` (${o.note})` : ''}`;
    lines.push(`  ${o.ok ? 'PASS' : 'FAIL'}  ${o.expression.padEnd(width)}  ${observed}`);
  }
  return lines.join('\n') + '\n\n';
}

/** The side-by-side table of `wsbench compare` and `blast --baseline`. */
export function formatComparison(comparison: Comparison): string {
  const rows = comparison.figures.map((f) => [
    f.label,
    formatFigure(f.baseline, f.unit),
    formatFigure(f.current, f.unit),
    f.changePercent === null ? '-' : `${f.changePercent > 0 ? '+' : ''}${f.changePercent.toFixed(1)}%`,
    f.gated ? (f.regressed ? 'REGRESSED' : 'ok') : '',
  ]);
  const header = ['figure', 'baseline', 'current', 'change', 'gate'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '  ' + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  const regressed = comparison.figures.filter((f) => f.regressed).length;
  return [
    `Compared with ${comparison.baseline.label} (gate: at most ${comparison.maxRegressionPercent}% worse)` +
      (regressed ? `: ${regressed} REGRESSED` : ': no regression'),
    line(header),
    ...rows.map(line),
  ].join('\n') + '\n\n';
}

export function formatFigure(value: number | null, unit: 'us' | 'count' | 'per_second'): string {
  if (value === null) return 'none';
  return unit === 'us' ? `${formatMs(value)} ms` : unit === 'per_second' ? `${formatCount(value)}/s` : formatCount(value);
}
