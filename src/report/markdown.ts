/**
 * A GitHub-flavoured Markdown summary of a result (for a pull request or `$GITHUB_STEP_SUMMARY`):
 * the verdict, thresholds with PASS/FAIL, outcomes, the latency ladder per phase, messages, and the
 * comparison with a baseline when there was one. A pure function from the result to text.
 */
import { partialLine } from './blast-text.js';
import { PERCENTILES, type LatencySummaryUs } from '../metrics/histogram.js';
import { compressionLine } from '../metrics/compression.js';
import { portableLine } from '../runtime/fast-paths.js';
import { formatCount, formatMs, formatSeconds } from './format.js';
import { formatFigure, formatObserved } from './gate-text.js';
import { reportVerdict, type ReportInput } from './report-input.js';

const LADDER_HEADINGS = ['p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'mean', 'count'];

/** PASS, FAIL or INTERRUPTED, from the exit code the result implies. */
export function verdictWord(exitCode: number): 'PASS' | 'FAIL' | 'INTERRUPTED' {
  return exitCode === 0 ? 'PASS' : exitCode === 130 ? 'INTERRUPTED' : 'FAIL';
}

/** What the round-trip histograms hold (results from before patterns are echo runs); undefined when nothing is timed. */
function measuredName(result: ReportInput): string | undefined {
  return { echo: 'round trip', reply: 'reply', delivery: 'delivery', none: undefined }[result.latency.measures ?? 'echo'];
}

/**
 * The messages of a run in one line, for the Markdown and the HTML reports alike: sent, answered,
 * the rate (marked by `strong`), then whichever counts the run has (unanswered, mismatched,
 * unmatched, duplicates, scenario completions). Only digits and fixed words: safe in either.
 */
export function messagesLine(result: ReportInput, strong: (text: string) => string): string {
  const { messages } = result;
  return (
    `sent ${formatCount(messages.sent)}, ${measuredName(result) === 'round trip' ? 'echoed' : 'received'} ${formatCount(messages.received)}, ${strong(`${formatCount(messages.perSecond)} msg/s`)} in the run` +
    (messages.unanswered ? `; unanswered at the end ${formatCount(messages.unanswered)}` : '') +
    (messages.mismatched ? `; mismatched ${formatCount(messages.mismatched)}` : '') +
    (messages.unmatched ? `; unmatched ${formatCount(messages.unmatched)}` : '') +
    (messages.duplicates ? `; duplicates ${formatCount(messages.duplicates)}` : '') +
    (messages.completed ? `; connections that ran every scenario step ${formatCount(messages.completed)}` : '') +
    (messages.onMatched || messages.onSent ? `; on: rules took ${formatCount(messages.onMatched ?? 0)} and sent ${formatCount(messages.onSent ?? 0)}` : '')
  );
}

/** Subscribe with publishers: the fan-out in one line; undefined for other runs. */
export function fanoutLine(result: ReportInput): string | undefined {
  if (!result.fanout) return undefined;
  const { published, delivered, observed, expected, missed } = result.fanout;
  return `fan-out: ${formatCount(published)} published, ${formatCount(delivered)} delivered, ${observed} per message (expected ${formatCount(expected)}), missed ${formatCount(missed)}`;
}

export function formatMarkdown(result: ReportInput): string {
  const verdict = reportVerdict(result);
  const word = verdictWord(verdict.exitCode);
  const lines: string[] = [];
  lines.push(`## wsbench blast: ${word === 'PASS' ? '✅' : '❌'} ${word} (exit ${verdict.exitCode})${result.partial ? ` · ${partialLine(result)}` : ''}`, '');
  lines.push(
    `Target \`${cell(result.target.url)}\`${result.target.ownServer ? ' (its own server)' : ''}, ` +
      `${formatCount(result.outcomes.attempted)} connections over ${result.plan.workers} client process${result.plan.workers === 1 ? '' : 'es'}; ` +
      `ramp ${formatSeconds(result.rampMs)}, run ${formatSeconds(result.runMs)}; ended: ${result.endReason}; started ${result.startedAt}.`,
  );
  for (const reason of verdict.reasons) lines.push('', `> ${reason}`);

  const thresholds = result.thresholds ?? [];
  if (thresholds.length) {
    const passed = thresholds.filter((t) => t.ok).length;
    lines.push('', `### Thresholds: ${passed} of ${thresholds.length} passed`, '', '| | threshold | observed | limit |', '|---|---|---:|---:|');
    for (const t of thresholds) {
      const observed = formatObserved(t.observed, t.unit) + (t.note ? ` (${t.note})` : '');
      lines.push(`| ${t.ok ? '✅ PASS' : '❌ FAIL'} | \`${cell(t.expression)}\` | ${cell(observed)} | ${cell(formatObserved(t.limit, t.unit))} |`);
    }
  }

  const { outcomes, latency } = result;
  lines.push(
    '',
    '### Connections',
    '',
    '| attempted | accepted | rejected | failed | dropped |',
    '|---:|---:|---:|---:|---:|',
    `| ${[outcomes.attempted, outcomes.accepted, outcomes.rejected.total, outcomes.failed.total, outcomes.dropped.total].map(formatCount).join(' | ')} |`,
  );
  const breakdown = (label: string, table: Record<string, number>) => {
    const entries = Object.entries(table).sort((a, b) => b[1] - a[1]);
    if (entries.length) lines.push('', `${label}: ${entries.map(([key, count]) => `${cell(key)} ${formatCount(count)}`).join(', ')}`);
  };
  breakdown('Rejected by HTTP status', outcomes.rejected.byStatus);
  breakdown('Failed by reason', outcomes.failed.byReason);
  breakdown('Dropped by close code', outcomes.dropped.byCloseCode);
  if (result.protocol) {
    breakdown(`Protocol ${result.protocol.name}`, result.protocol.counts);
    breakdown(`Protocol ${result.protocol.name} reasons`, result.protocol.reasons);
  }
  if (result.compression) lines.push('', compressionLine(result.compression).trim());

  lines.push('', '### Latency (ms)', '', `| | ${LADDER_HEADINGS.join(' | ')} |`, `|---|${LADDER_HEADINGS.map(() => '---:').join('|')}|`);
  const measured = measuredName(result);
  lines.push(ladderRow('connect (ramp)', latency.connect));
  const protocol = result.protocol;
  if (protocol && protocol.handshake.count > 0) lines.push(ladderRow(`${protocol.name} handshake`, protocol.handshake));
  if (measured) lines.push(ladderRow(`${measured} (run)`, latency.phases.run.roundTrip));
  if (measured && latency.phases.ramp.roundTrip.count > 0) lines.push(ladderRow(`${measured} (ramp)`, latency.phases.ramp.roundTrip));
  if (latency.coordinatedOmissionCorrected) lines.push('', 'Round trips counted from the intended send time (paced; coordinated omission corrected).');

  lines.push('', '### Messages', '', messagesLine(result, (text) => `**${text}**`));
  const fanout = fanoutLine(result);
  if (fanout) lines.push('', fanout);

  const comparison = result.comparison;
  if (comparison) {
    const regressed = comparison.figures.filter((f) => f.regressed).length;
    lines.push(
      '',
      `### Compared with \`${cell(comparison.baseline.label)}\` (at most ${comparison.maxRegressionPercent}% worse): ${regressed ? `❌ ${regressed} regressed` : '✅ no regression'}`,
      '',
      '| figure | baseline | current | change | gate |',
      '|---|---:|---:|---:|---|',
    );
    for (const f of comparison.figures) {
      const change = f.changePercent === null ? '–' : `${f.changePercent > 0 ? '+' : ''}${f.changePercent.toFixed(1)}%`;
      lines.push(`| ${f.label} | ${formatFigure(f.baseline, f.unit)} | ${formatFigure(f.current, f.unit)} | ${change} | ${f.gated ? (f.regressed ? '❌ regressed' : 'ok') : ''} |`);
    }
  }
  if (result.generator.bottleneck) lines.push('', '> ⚠️ A client process was busy (CPU or event-loop delay): wsbench itself may have set these numbers.');
  const portable = portableLine(result.runtime);
  if (portable) lines.push('', `> ${portable}.`);
  return lines.join('\n') + '\n';
}

function ladderRow(label: string, summary: LatencySummaryUs): string {
  if (summary.count === 0) return `| ${label} | ${LADDER_HEADINGS.slice(0, -1).map(() => '–').join(' | ')} | 0 |`;
  const values = [...PERCENTILES.map(([key]) => summary[key]), summary.max_us, summary.mean_us].map(formatMs);
  return `| ${label} | ${values.join(' | ')} | ${formatCount(summary.count)} |`;
}

/** Text inside a table cell or code span: a pipe would end the cell, a backtick the span, a newline the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/`/g, "'").replace(/[\r\n]+/g, ' ');
}
