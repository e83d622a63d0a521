/**
 * JUnit XML, which CI systems show as test results: one testcase for the run's own verdict (fails
 * when nothing was measured, the server went away, a client process was lost, or the run was
 * interrupted), one per threshold (a failure carries observed and limit), and one per gated figure
 * of the comparison with a baseline. A pure function from the result to text.
 */
import { formatFigure, formatObserved } from './gate-text.js';
import { reportVerdict, type ReportInput } from './report-input.js';

interface TestCase {
  readonly classname: string;
  readonly name: string;
  readonly failure?: { readonly type: string; readonly message: string };
}

export function formatJunit(result: ReportInput): string {
  const verdict = reportVerdict(result);
  const cases: TestCase[] = [];
  const runFailed = verdict.exitCode === 1 || verdict.exitCode === 130;
  cases.push({
    classname: 'wsbench.run',
    name: 'run verdict: something was measured and the server stayed up',
    ...(runFailed
      ? { failure: { type: verdict.exitCode === 130 ? 'interrupted' : 'run-failed', message: verdict.exitCode === 130 ? 'interrupted: partial results' : verdict.reasons.join('; ') } }
      : {}),
  });
  for (const t of result.thresholds ?? []) {
    const observed = formatObserved(t.observed, t.unit) + (t.note ? ` (${t.note})` : '');
    cases.push({
      classname: 'wsbench.thresholds',
      name: t.expression,
      ...(t.ok ? {} : { failure: { type: 'threshold', message: `observed ${observed}, limit ${formatObserved(t.limit, t.unit)}` } }),
    });
  }
  const comparison = result.comparison;
  for (const f of comparison?.figures.filter((figure) => figure.gated) ?? []) {
    cases.push({
      classname: 'wsbench.regressions',
      name: `${f.label} at most ${comparison!.maxRegressionPercent}% worse than ${comparison!.baseline.label}`,
      ...(f.regressed
        ? { failure: { type: 'regression', message: `baseline ${formatFigure(f.baseline, f.unit)}, current ${formatFigure(f.current, f.unit)}${f.changePercent === null ? '' : ` (${f.changePercent > 0 ? '+' : ''}${f.changePercent.toFixed(1)}%)`}${f.note ? `: ${f.note}` : ''}` } }
        : {}),
    });
  }
  const failures = cases.filter((c) => c.failure).length;
  const time = (result.durationMs / 1000).toFixed(3);
  const suite = `${result.partial ? 'PARTIAL (' + result.partial.missing.join(', ') + ' missing) ' : ''}wsbench blast ${result.target.url}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="wsbench" tests="${cases.length}" failures="${failures}" errors="0" time="${time}">`,
    `  <testsuite name="${xml(suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="0" time="${time}" timestamp="${xml(result.startedAt)}">`,
    '    <properties>',
    ...[
      ['target', result.target.url],
      ['exitCode', String(verdict.exitCode)],
      ['endReason', result.endReason],
      ['connections', String(result.outcomes.attempted)],
      ['accepted', String(result.outcomes.accepted)],
      ['messagesPerSecond', String(result.messages.perSecond)],
      ...messageProperties(result),
    ].map(([name, value]) => `      <property name="${xml(name!)}" value="${xml(value!)}"/>`),
    '    </properties>',
  ];
  for (const c of cases) {
    const open = `    <testcase classname="${xml(c.classname)}" name="${xml(c.name)}" time="0"`;
    if (!c.failure) lines.push(`${open}/>`);
    else lines.push(`${open}>`, `      <failure type="${xml(c.failure.type)}" message="${xml(c.failure.message)}">${xml(c.failure.message)}</failure>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>');
  return lines.join('\n') + '\n';
}

/**
 * Text for XML content and attribute values: the five special characters escaped, and characters
 * XML 1.0 cannot hold at all (most control characters, lone surrogates) dropped.
 */
export function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The run's message counts as properties: always sent, received, unanswered and mismatched; the rest when the run has them. */
function messageProperties(result: ReportInput): [string, string][] {
  const { messages } = result;
  const properties: [string, string][] = [
    ['messagesSent', String(messages.sent)],
    ['messagesReceived', String(messages.received)],
    ['unanswered', String(messages.unanswered)],
    ['mismatched', String(messages.mismatched)],
  ];
  if (messages.unmatched) properties.push(['unmatched', String(messages.unmatched)]);
  if (messages.duplicates) properties.push(['duplicates', String(messages.duplicates)]);
  if (result.config.pattern === 'scenario') properties.push(['scenarioCompleted', String(messages.completed)]);
  if (messages.onMatched || messages.onSent) properties.push(['scenarioOnMatched', String(messages.onMatched ?? 0)], ['scenarioOnSent', String(messages.onSent ?? 0)]);
  if (result.fanout) properties.push(['fanoutPublished', String(result.fanout.published)], ['fanoutDelivered', String(result.fanout.delivered)], ['fanoutMissed', String(result.fanout.missed)]);
  return properties;
}
