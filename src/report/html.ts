/**
 * The HTML report: one self-contained file, with the charting library (uPlot) and its styles inlined
 * and the data as inline JSON, and a Content-Security-Policy that forbids any request, so it opens
 * from disk, from a CI artifact or offline exactly the same. It shows:
 *
 *   - the latency percentile distribution of connect and round trips, as HdrHistogram plots it
 *     (x: 1/(1-p) on a log axis, labelled 0%, 90%, 99%, 99.9%, …; y: ms), from the same points as
 *     the .hgrm report;
 *   - the per-second timeline: echoes per second and open connections, and each second's rtt p99;
 *   - the thresholds, the outcomes, the latency ladder and the comparison, as tables.
 *
 * After drawing, each chart's element gets `data-points` (the points drawn, over its series) and the
 * body `data-rendered="true"`: what the browser test reads. A pure function from the result (and the
 * library's text) to HTML.
 */
import { partialLine } from './blast-text.js';
import { PERCENTILES, type LatencySummaryUs } from '../metrics/histogram.js';
import { compressionLine } from '../metrics/compression.js';
import { formatCount, formatMs, formatSeconds } from './format.js';
import { formatFigure, formatObserved } from './gate-text.js';
import { formatHgrm, percentilePoints } from './hgrm.js';
import type { HtmlAssets } from './html-assets.js';
import { fanoutLine, messagesLine, verdictWord } from './markdown.js';
import { reportVerdict, type ReportInput } from './report-input.js';

/** What the page's script draws, as inline JSON. */
interface ChartData {
  readonly distribution: { readonly label: string; readonly points: readonly [inverse: number, ms: number][] }[];
  readonly timeline: { readonly t: number[]; readonly messagesPerSecond: number[]; readonly open: number[]; readonly rttP99Ms: (number | null)[]; readonly phase: string[] };
}

export function formatHtml(result: ReportInput, assets: HtmlAssets): string {
  const verdict = reportVerdict(result);
  const word = verdictWord(verdict.exitCode);
  const timeline = result.timeline ?? [];
  const data: ChartData = {
    distribution: formatHgrm(result).map((file) => ({
      label: file.histogram.label,
      points: percentilePoints(file.text).map((p): [number, number] => [p.inverse, p.valueMs]),
    })),
    timeline: {
      t: timeline.map((e) => e.t_s),
      messagesPerSecond: timeline.map((e) => e.messagesPerSecond),
      open: timeline.map((e) => e.open),
      rttP99Ms: timeline.map((e) => (e.rttP99_us === null ? null : e.rttP99_us / 1000)),
      phase: timeline.map((e) => e.phase),
    },
  };
  const rampSeconds = timeline.filter((e) => e.phase === 'ramp').length;
  const title = `${result.partial ? 'PARTIAL · ' : ''}wsbench blast ${result.target.url}: ${word}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="wsbench ${escape(result.tool.version)}, uPlot ${escape(assets.uplotVersion)}">
<title>${escape(title)}</title>
<style>${assets.uplotCss}</style>
<style>${PAGE_CSS}</style>
</head>
<body data-rendered="false">
<h1>wsbench blast: <span class="${word === 'PASS' ? 'pass' : 'fail'}">${word}</span> <small>(exit ${verdict.exitCode})</small>${result.partial ? ` <span class="fail">${escape(partialLine(result)!)}</span>` : ''}</h1>
<p class="meta">${escape(result.target.url)}${result.target.ownServer ? ' (its own server)' : ''} · ${formatCount(result.outcomes.attempted)} connections over
${result.plan.workers} client process${result.plan.workers === 1 ? '' : 'es'} · ramp ${formatSeconds(result.rampMs)}, run ${formatSeconds(result.runMs)} · ended: ${escape(result.endReason)} · started ${escape(result.startedAt)}</p>
${verdict.reasons.map((reason) => `<p class="reason">${escape(reason)}</p>`).join('\n')}
${thresholdsTable(result)}
<h2>Connections</h2>
${table(['attempted', 'accepted', 'rejected', 'failed', 'dropped'], [[result.outcomes.attempted, result.outcomes.accepted, result.outcomes.rejected.total, result.outcomes.failed.total, result.outcomes.dropped.total].map(formatCount)])}
${breakdowns(result)}
<h2>Latency</h2>
${ladder(result)}
<h3>Percentile distribution (as HdrHistogram plots it)</h3>
<div id="chart-distribution" class="chart" data-points=""></div>
<h2>Per second</h2>
<p class="note">Seconds since the client processes started; ${rampSeconds ? `the first ${rampSeconds} second${rampSeconds === 1 ? '' : 's'} ended in the ramp, the rest in the run` : 'every second ended in the run'}. The last second is partial (its rate scaled to a second).</p>
<h3>Echoes per second and open connections</h3>
<div id="chart-throughput" class="chart" data-points=""></div>
<h3>Round-trip p99 of each second (ms)</h3>
<div id="chart-p99" class="chart" data-points=""></div>
<h2>Messages</h2>
<p>${messagesLine(result, (text) => `<b>${text}</b>`)}</p>
${fanoutLine(result) ? `<p>${escape(fanoutLine(result)!)}</p>\n` : ''}${comparisonTable(result)}
<footer>wsbench ${escape(result.tool.version)} · charts by uPlot ${escape(assets.uplotVersion)} (MIT), inlined</footer>
<script type="application/json" id="wsbench-data">${json(data)}</script>
<script>${assets.uplotJs.replace(/<\/script/gi, '<\\/script')}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

function thresholdsTable(result: ReportInput): string {
  const thresholds = result.thresholds ?? [];
  if (!thresholds.length) return '<h2>Thresholds</h2>\n<p class="note">none given</p>';
  const passed = thresholds.filter((t) => t.ok).length;
  const rows = thresholds.map((t) => [
    t.ok ? '<span class="pass">PASS</span>' : '<span class="fail">FAIL</span>',
    `<code>${escape(t.expression)}</code>`,
    escape(formatObserved(t.observed, t.unit) + (t.note ? ` (${t.note})` : '')),
    escape(formatObserved(t.limit, t.unit)),
  ]);
  return `<h2>Thresholds: ${passed} of ${thresholds.length} passed</h2>\n${table(['', 'threshold', 'observed', 'limit'], rows, true)}`;
}

function breakdowns(result: ReportInput): string {
  const parts: string[] = [];
  const add = (label: string, entries: Record<string, number>) => {
    const sorted = Object.entries(entries).sort((a, b) => b[1] - a[1]);
    if (sorted.length) parts.push(`<p>${label}: ${sorted.map(([key, count]) => `${escape(key)} ${formatCount(count)}`).join(', ')}</p>`);
  };
  add('Rejected by HTTP status', result.outcomes.rejected.byStatus);
  add('Failed by reason', result.outcomes.failed.byReason);
  add('Dropped by close code', result.outcomes.dropped.byCloseCode);
  if (result.protocol) {
    add(`Protocol ${escape(result.protocol.name)}`, result.protocol.counts);
    add(`Protocol ${escape(result.protocol.name)} reasons`, result.protocol.reasons);
  }
  if (result.compression) parts.push(`<p>${escape(compressionLine(result.compression).trim())}</p>`);
  return parts.join('\n');
}

function ladder(result: ReportInput): string {
  const headings = ['', ...PERCENTILES.map(([key]) => key.replace(/_us$/, '').replace('_', '.')), 'max', 'mean', 'count'];
  const row = (label: string, summary: LatencySummaryUs) =>
    summary.count === 0
      ? [label, ...headings.slice(1, -1).map(() => '–'), '0']
      : [label, ...[...PERCENTILES.map(([key]) => summary[key]), summary.max_us, summary.mean_us].map(formatMs), formatCount(summary.count)];
  const rows = [row('connect (ramp)', result.latency.connect)];
  const protocol = result.protocol;
  if (protocol && protocol.handshake.count > 0) rows.push(row(`${protocol.name} handshake`, protocol.handshake));
  rows.push(row('round trip (run)', result.latency.phases.run.roundTrip));
  if (result.latency.phases.ramp.roundTrip.count > 0) rows.push(row('round trip (ramp)', result.latency.phases.ramp.roundTrip));
  const note = result.latency.coordinatedOmissionCorrected ? '<p class="note">Round trips counted from the intended send time (paced; coordinated omission corrected).</p>' : '';
  return `<p class="note">milliseconds</p>\n${table(headings, rows.map((r) => r.map(escape)))}\n${note}`;
}

function comparisonTable(result: ReportInput): string {
  const comparison = result.comparison;
  if (!comparison) return '';
  const regressed = comparison.figures.filter((f) => f.regressed).length;
  const rows = comparison.figures.map((f) => [
    escape(f.label),
    escape(formatFigure(f.baseline, f.unit)),
    escape(formatFigure(f.current, f.unit)),
    f.changePercent === null ? '–' : `${f.changePercent > 0 ? '+' : ''}${f.changePercent.toFixed(1)}%`,
    f.gated ? (f.regressed ? '<span class="fail">regressed</span>' : 'ok') : '',
  ]);
  return `<h2>Compared with <code>${escape(comparison.baseline.label)}</code> (at most ${comparison.maxRegressionPercent}% worse): ${
    regressed ? `<span class="fail">${regressed} regressed</span>` : '<span class="pass">no regression</span>'
  }</h2>\n${table(['figure', 'baseline', 'current', 'change', 'gate'], rows, true)}`;
}

/** Cells are HTML already (escaped by the caller). */
function table(headings: readonly string[], rows: readonly (readonly string[])[], firstColumnsText = false): string {
  const head = headings.map((h) => `<th>${escape(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${firstColumnsText && i < 2 ? ' class="text"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON safe inside a <script> element: no `<` at all, so no `</script>` or `<!--`. */
function json(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const PAGE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h1 small { font-weight: normal; color: #57606a; font-size: 14px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.meta, .note, footer { color: #57606a; } footer { margin-top: 32px; font-size: 12px; }
.reason { background: #fff1f0; border-left: 4px solid #cf222e; padding: 6px 10px; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; } td.text, th:first-child, td:first-child { text-align: left; }
thead th { background: #f6f8fa; }
.chart { min-height: 40px; }
.chart .empty { color: #57606a; font-style: italic; }
`;

/**
 * Runs in the page: draws the three charts with uPlot from the inline JSON, then marks each chart
 * with the points it drew and the body as rendered. Plain ES2017, no imports.
 */
const PAGE_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('wsbench-data').textContent);
  var colors = ['#0969da', '#cf222e', '#8250df', '#1a7f37'];
  var SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  var width = Math.max(480, Math.min(960, document.body.clientWidth - 32));

  function countPoints(seriesData) {
    var n = 0;
    for (var s = 1; s < seriesData.length; s++) for (var i = 0; i < seriesData[s].length; i++) if (seriesData[s][i] != null) n++;
    return n;
  }
  function draw(id, opts, seriesData) {
    var el = document.getElementById(id);
    var points = seriesData.length > 1 ? countPoints(seriesData) : 0;
    if (points === 0) {
      el.innerHTML = '<p class="empty">no samples</p>';
    } else {
      opts.width = width;
      opts.height = 320;
      new uPlot(opts, seriesData, el);
    }
    el.setAttribute('data-points', String(points));
  }
  function percentileLabel(inverse) {
    return String(Number((100 - 100 / inverse).toFixed(6))) + '%';
  }

  // Latency by percentile: the union of the histograms' x values (1/(1-p)), null where one has none.
  var xs = [];
  var seen = {};
  data.distribution.forEach(function (d) { d.points.forEach(function (p) { if (!seen[p[0]]) { seen[p[0]] = true; xs.push(p[0]); } }); });
  xs.sort(function (a, b) { return a - b; });
  var distribution = [xs];
  data.distribution.forEach(function (d) {
    var byX = {};
    d.points.forEach(function (p) { byX[p[0]] = p[1]; });
    distribution.push(xs.map(function (x) { return x in byX ? byX[x] : null; }));
  });
  draw('chart-distribution', {
    scales: { x: { time: false, distr: 3, log: 10 }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
    axes: [
      { label: 'percentile', splits: function (u, i, min, max) { var s = []; for (var v = 1; v <= max * 1.0001; v *= 10) if (v >= min / 1.0001) s.push(v); return s; },
        values: function (u, splits) { return splits.map(percentileLabel); } },
      { label: 'latency (ms)' },
    ],
    series: [{ label: 'percentile', value: function (u, v) { return v == null ? '-' : percentileLabel(v); } }].concat(data.distribution.map(function (d, i) {
      return { label: d.label + ' (ms)', stroke: colors[i % colors.length], width: 2, spanGaps: true, points: { show: false } };
    })),
  }, distribution);

  var t = data.timeline;
  draw('chart-throughput', {
    scales: { x: { time: false }, rate: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } }, open: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
    axes: [{ label: 'second', incrs: SECOND_STEPS }, { scale: 'rate', label: 'echoes / s' }, { scale: 'open', side: 1, label: 'open connections', grid: { show: false } }],
    series: [
      { label: 'second' },
      { label: 'msg/s', scale: 'rate', stroke: colors[0], width: 2 },
      { label: 'open', scale: 'open', stroke: colors[3], width: 2, dash: [6, 4] },
    ],
  }, t.t.length ? [t.t, t.messagesPerSecond, t.open] : [[]]);
  draw('chart-p99', {
    scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
    axes: [{ label: 'second', incrs: SECOND_STEPS }, { label: 'p99 (ms)' }],
    series: [{ label: 'second' }, { label: 'rtt p99 (ms)', stroke: colors[1], width: 2, spanGaps: false }],
  }, t.t.length ? [t.t, t.rttP99Ms] : [[]]);

  document.body.setAttribute('data-rendered', 'true');
})();
`;
