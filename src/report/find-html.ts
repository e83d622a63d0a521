/**
 * The capacity curve of a `wsbench find` result as one self-contained HTML page: round-trip p50 and
 * p99 and messages per second against the load of each step (inline SVG, no script), the capacity
 * (the knee) marked, and the table of steps. A pure function from the result to text.
 */
import type { FindResult } from '../find/find.js';
import { formatCount, formatMs } from './format.js';

const W = 720;
const H = 300;
const PAD = { left: 64, right: 64, top: 20, bottom: 40 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function formatFindHtml(result: FindResult): string {
  const steps = [...result.steps].sort((a, b) => a.load - b.load);
  const loads = steps.map((s) => s.load);
  const maxLoad = Math.max(1, ...loads, result.capacity.firstFailed ?? 0);
  const maxLatency = Math.max(1, ...steps.map((s) => s.latency.roundTrip.p99_us));
  const maxRate = Math.max(1, ...steps.map((s) => s.messagesPerSecond));
  const x = (load: number) => PAD.left + (load / maxLoad) * (W - PAD.left - PAD.right);
  const yLatency = (us: number) => H - PAD.bottom - (us / maxLatency) * (H - PAD.top - PAD.bottom);
  const yRate = (rate: number) => H - PAD.bottom - (rate / maxRate) * (H - PAD.top - PAD.bottom);
  const line = (points: [number, number][], color: string, dash = '') =>
    points.length ? `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}"/>` : '';
  const dots = steps
    .map((s) => `<circle cx="${x(s.load).toFixed(1)}" cy="${yLatency(s.latency.roundTrip.p99_us).toFixed(1)}" r="4" fill="${s.verdict === 'held' ? '#2a7' : s.verdict === 'failed' ? '#c33' : '#e90'}"><title>${escape(`${formatCount(s.load)}: ${s.verdict}, p99 ${formatMs(s.latency.roundTrip.p99_us)} ms`)}</title></circle>`)
    .join('');
  const knee = result.capacity.count === null ? '' : `<line x1="${x(result.capacity.count).toFixed(1)}" x2="${x(result.capacity.count).toFixed(1)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#333" stroke-dasharray="4 3"/><text x="${(x(result.capacity.count) + 4).toFixed(1)}" y="${PAD.top + 12}" font-size="12">capacity ${escape(formatCount(result.capacity.count))}</text>`;
  const unit = result.search.dimension === 'connections' ? 'connections' : 'messages/s per connection';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="capacity curve">
<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" fill="none" stroke="#ccc"/>
${line(steps.map((s) => [x(s.load), yLatency(s.latency.roundTrip.p50_us)]), '#36c')}
${line(steps.map((s) => [x(s.load), yLatency(s.latency.roundTrip.p99_us)]), '#c33')}
${line(steps.map((s) => [x(s.load), yRate(s.messagesPerSecond)]), '#888', '6 4')}
${dots}${knee}
<text x="${PAD.left}" y="${H - 8}" font-size="12">0</text><text x="${W - PAD.right}" y="${H - 8}" font-size="12" text-anchor="end">${escape(formatCount(maxLoad))} ${unit}</text>
<text x="${PAD.left - 6}" y="${PAD.top + 10}" font-size="12" text-anchor="end">${escape(formatMs(maxLatency))} ms</text>
<text x="${W - PAD.right + 6}" y="${PAD.top + 10}" font-size="12">${escape(formatCount(maxRate))} msg/s</text>
</svg>`;
  const rows = result.steps
    .map(
      (s) =>
        `<tr><td>${s.index}</td><td>${escape(formatCount(s.load))}</td><td>${escape(formatMs(s.latency.roundTrip.p50_us))}</td><td>${escape(formatMs(s.latency.roundTrip.p99_us))}</td><td>${escape(formatCount(s.messagesPerSecond))}</td><td>${s.connections.refused + s.connections.failed}</td><td>${s.generator.busy ? 'busy' : 'ok'}</td><td>${s.verdict}</td></tr>`,
    )
    .join('\n');
  const answer =
    result.capacity.stoppedBy === 'run-ended' || result.capacity.stoppedBy === 'interrupted'
      ? `no capacity found: ${result.capacity.stoppedBy === 'run-ended' ? `the run ended by itself (${result.capacity.endedBecause})` : 'interrupted'}`
      : result.capacity.stoppedBy === 'generator-limited'
      ? `limited by the generator at ${formatCount(result.capacity.limitedAt ?? 0)}: not the server's capacity`
      : result.capacity.count === null
        ? 'no step held'
        : `${formatCount(result.capacity.count)} ${unit} held${result.capacity.firstFailed === null ? ' (the upper bound)' : `; ${formatCount(result.capacity.firstFailed)} did not`}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>wsbench find ${escape(result.target.url)}: ${escape(answer)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}</style></head>
<body>
<h1>wsbench find: ${escape(answer)}</h1>
<p>${escape(result.target.url)} · until ${escape(result.search.until.join(', '))} · steps of ${result.search.stepDurationMs / 1000} s · stopped by ${escape(result.capacity.stoppedBy)}</p>
${svg}
<p>round trip p50 (blue) and p99 (red), ms; messages per second (grey, dashed); green held, red failed, orange limited by the generator.</p>
<table><thead><tr><th>step</th><th>load</th><th>p50 ms</th><th>p99 ms</th><th>msg/s</th><th>refused+failed</th><th>generator</th><th>verdict</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
