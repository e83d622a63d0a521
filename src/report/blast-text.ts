/** The blast summary for a terminal: a pure function from the result to text. */
import { portableLine } from '../runtime/fast-paths.js';
import type { LatencySummaryUs } from '../metrics/histogram.js';
import type { BlastResult } from '../metrics/blast-result.js';
import { formatBytes, formatCount, formatMs } from './format.js';
import { formatDurationMs } from '../config/units.js';
import { decodeHistogram, summarize } from '../metrics/histogram.js';
import { generatorWarnings, stalledTimeoutsNote } from './generator-advice.js';
import { compressionLine } from '../metrics/compression.js';

/** `about`: what the target is, when blast chose it (its own server, or the wsbench serve it found). */
export function formatBlastHeader(url: string, about: string | undefined, connections: number, workers: number, sources: string, duration: string): string {
  return (
    `wsbench blast ${url}${about ? ` (${about})` : ''}\n` +
    `  ${formatCount(connections)} connections over ${workers} client process${workers === 1 ? '' : 'es'}, ` +
    `source addresses: ${sources}, ${duration}\n`
  );
}

/** --data: the file and how its rows met the connections (config.data; never a value). */
function dataLine(result: BlastResult): string | undefined {
  const data = result.config.data as { file: string; rows: number; wrapped: boolean } | null | undefined;
  if (!data) return undefined;
  return `data ${data.file}: ${formatCount(data.rows)} row${data.rows === 1 ? '' : 's'}, ${data.wrapped ? 'fewer than the connections: they went round (connection N took row N mod rows)' : 'one per connection'}`;
}

export function formatBlastSummary(result: BlastResult): string {
  const { outcomes, messages, latency } = result;
  const lines: string[] = [];
  const partial = partialLine(result);
  if (partial) lines.push(partial);
  lines.push(
    `wsbench blast ${result.target.url}${result.interrupted ? '  (INTERRUPTED: partial results)' : ''}` +
      (result.missingClientProcesses.length ? '  (INCOMPLETE: a client process did not report)' : ''),
    `  ${formatCount(outcomes.attempted)} connections, ${result.plan.workers} client process${result.plan.workers === 1 ? '' : 'es'}, ` +
      `source addresses ${describeSources(result.plan)}, ${(result.durationMs / 1000).toFixed(1)}s` +
      (result.rampMs === null ? '' : ` (ramp: all attempted in ${(result.rampMs / 1000).toFixed(1)}s`) +
      (result.runMs === null ? (result.rampMs === null ? '' : ')') : `; run ${(result.runMs / 1000).toFixed(1)}s)`),
  );
  const sync = syncLine(result);
  if (sync) lines.push(`  ${sync}`);
  const data = dataLine(result);
  if (data) lines.push(`  ${data}`);
  lines.push(
    '',
    'Connections',
    `  attempted ${formatCount(outcomes.attempted)}  accepted ${formatCount(outcomes.accepted)}  ` +
      `rejected ${formatCount(outcomes.rejected.total)}  failed ${formatCount(outcomes.failed.total)}  dropped ${formatCount(outcomes.dropped.total)}`,
  );
  const breakdown = (label: string, table: Record<string, number>) => {
    const entries = Object.entries(table).sort((a, b) => b[1] - a[1]);
    if (entries.length) lines.push(`  ${label.padEnd(9)}${entries.map(([k, v]) => `${k}: ${formatCount(v)}`).join(', ')}`);
  };
  breakdown('rejected', outcomes.rejected.byStatus);
  breakdown('failed', outcomes.failed.byReason);
  const stalled = stalledTimeoutsNote(result);
  if (stalled) lines.push(`           ${stalled}`);
  breakdown('dropped', outcomes.dropped.byCloseCode);
  if (result.compression) lines.push(compressionLine(result.compression));
  const churn = result.churn;
  if (churn) {
    lines.push(
      `  churn: lifetime ${formatDurationMs(churn.lifetimeMs)} ±${Math.round(churn.jitter * 100)}%: ${formatCount(churn.churned)} closed and replaced; ` +
        `${formatCount(churn.connectsDuringRun)} connects in the run, ${formatCount(churn.connectsPerSecond)}/s`,
    );
  }
  const reconnects = result.reconnects;
  if (reconnects) {
    const t = reconnects.time;
    lines.push(
      `  reconnects: ${formatCount(reconnects.dropped)} dropped, ${formatCount(reconnects.reconnected)} back` +
        `${reconnects.pending ? `, ${formatCount(reconnects.pending)} not back at the end` : ''} (${formatCount(reconnects.attempts)} attempts, ${reconnects.attemptsPerReconnect} per reconnect)` +
        (t.count ? `; back in p50 ${formatMs(t.p50_us)} ms, p99 ${formatMs(t.p99_us)} ms, max ${formatMs(t.max_us)} ms` : ''),
    );
    const storm = reconnects.storm;
    if (storm) {
      lines.push(
        `  storm at ${storm.at}: ${formatCount(storm.back)} of ${formatCount(storm.dropped)} back` +
          (storm.allBackMs === null ? ' (not all back)' : ` in ${(storm.allBackMs / 1000).toFixed(1)} s`) +
          (storm.time.count ? ` (p50 ${(storm.time.p50_us / 1e6).toFixed(2)} s, p99 ${(storm.time.p99_us / 1e6).toFixed(2)} s)` : ''),
      );
    }
  }
  const protocol = result.protocol;
  if (protocol) {
    lines.push('', `Protocol ${protocol.name}`);
    const counts = Object.entries(protocol.counts);
    if (counts.length) lines.push(`  ${counts.map(([k, v]) => `${k} ${formatCount(v)}`).join('  ')}`);
    const reasons = Object.entries(protocol.reasons).sort((a, b) => b[1] - a[1]);
    if (reasons.length) lines.push(`  reasons: ${reasons.map(([k, v]) => `${k}: ${formatCount(v)}`).join(', ')}`);
  }
  const maxHandshakes = Number(result.config.maxHandshakes);
  const lowest = outcomes.handshakesInFlightLowest;
  if (lowest !== undefined && lowest < maxHandshakes && outcomes.attempted > lowest) {
    lines.push(
      `  handshakes in flight held to ${formatCount(lowest)} (of --max-handshakes ${formatCount(maxHandshakes)}) while connect latency ` +
        `passed ${formatCount(Math.max(100, Number(result.config.connectTimeoutMs) / 4) / 2)} ms: how fast the server answered, not --max-handshakes, set the ramp's pace`,
    );
  }
  lines.push('', `Latency (ms)     ${['p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'mean', 'stdev'].map((h) => h.padStart(8)).join('')}       count`);
  lines.push(latencyRow('connect', latency.connect));
  if (protocol && protocol.handshake.count > 0) lines.push(latencyRow(protocol.name === 'socketio' ? 'namespace' : 'connection_ack', protocol.handshake));
  const runConnects = result.churn || result.reconnects ? result.histograms.connectRun_us : undefined;
  if (runConnects) lines.push(latencyRow('  during run', summarize(decodeHistogram(runConnects))));
  if (result.reconnects && result.reconnects.time.count > 0) lines.push(latencyRow('back after drop', result.reconnects.time));
  const measures = latency.measures ?? 'echo';
  const name = { echo: 'round trip', reply: 'reply', delivery: 'delivery', none: 'round trip' }[measures];
  if (measures !== 'none') {
    lines.push(latencyRow(name, latency.roundTrip));
    if (latency.phases.ramp.roundTrip.count > 0) lines.push(latencyRow('  during ramp', latency.phases.ramp.roundTrip));
    lines.push(`  connect: ${runConnects ? 'every handshake, ramp and run (the run\'s shown apart)' : 'ramp phase'}; ${name}: run phase${latency.phases.ramp.roundTrip.count > 0 ? ' (the ramp, with --ramp-traffic, shown apart)' : ''}`);
  } else {
    lines.push('  connect: ramp phase; fire-and-forget measures no message latency');
  }
  if (protocol?.name === 'socketio' && measures === 'reply') lines.push('  reply: from each emit to its ack; namespace: from the upgrade to the namespace connected');
  else if (protocol?.name === 'graphql-ws') lines.push('  delivery: each next from the previous event of its subscription (the first, from the subscribe); connection_ack: from the upgrade');
  else if (measures === 'reply') lines.push('  reply: from each request to the reply with its id');
  if (measures === 'delivery' && protocol?.name !== 'graphql-ws') {
    lines.push("  delivery: from the publisher's {{now_us}} to arrival, on this host's monotonic clock (every process here shares it)");
  }
  if (result.config.flood) lines.push('  round trip: from the {{now_us}} each echo carries (flood: every echo timed)');
  if (latency.coordinatedOmissionCorrected) lines.push(`  ${name} counted from the intended send time (paced; coordinated omission corrected)`);
  const answered = { echo: 'echoed', reply: 'replies', delivery: 'received', none: 'received' }[measures];
  lines.push(
    '',
    'Messages',
    `  sent ${formatCount(messages.sent)}  ${answered} ${formatCount(messages.received)}  ` +
      `${formatCount(messages.perSecond)} msg/s  ${formatBytes(messages.bytesPerSecond)}/s received (run phase)`,
  );
  if (result.config.pattern === 'scenario') {
    // Every message received is either taken by an expect (received) or unmatched; every expect
    // that started is matched, unanswered (timed out, or still waiting at the end) or neither yet.
    lines.push(
      `  scenario ${String(result.config.scenario)} (steps from ${result.config.rampTraffic ? 'each open' : 'the start of the run'}): ` +
        `${formatCount(messages.completed)} connections ran every step`,
      `  expects matched ${formatCount(messages.received)}  unanswered ${formatCount(messages.unanswered)} (timed out, or waiting when the run ended; ` +
        `recorded as round trips of their wait)  unmatched ${formatCount(messages.unmatched)} (messages no expect took)`,
    );
    if (messages.onMatched || messages.onSent) {
      lines.push(`  on: rules took ${formatCount(messages.onMatched ?? 0)} messages and sent ${formatCount(messages.onSent ?? 0)} (answers and timers; apart from the counts above)`);
    }
  } else if (messages.unanswered) {
    const plural = { echo: 'round trips', reply: 'replies', delivery: 'deliveries', none: 'round trips' }[measures];
    lines.push(`  unanswered when the run ended: ${formatCount(messages.unanswered)}${result.config.flood ? '' : ` (recorded as ${plural} of at least their age then)`}`);
  }
  if (messages.mismatched) lines.push(`  not the echo of what was outstanding (not timed): ${formatCount(messages.mismatched)}`);
  if (messages.unmatched && result.config.pattern !== 'scenario') lines.push(`  replies that matched no request: ${formatCount(messages.unmatched)}`);
  if (messages.subscribed) lines.push(`  subscribe messages sent: ${formatCount(messages.subscribed)}`);
  if (messages.duplicates) lines.push(`  duplicate deliveries: ${formatCount(messages.duplicates)}`);
  const fanout = result.fanout;
  if (fanout) {
    lines.push(
      `  fan-out: ${formatCount(fanout.published)} published, ${formatCount(fanout.delivered)} delivered: ${fanout.observed} per message, ` +
        `expected ${formatCount(fanout.expected)}; missed ${formatCount(fanout.missed)}`,
    );
  }
  if (messages.delayedSends) lines.push(`  sends held back (4096 echoes outstanding, or 16 KiB unsent, on the connection): ${formatCount(messages.delayedSends)}`);
  lines.push('', 'Generator (each client process: CPU and event-loop delay during the run; during the ramp)');
  for (const w of result.generator.workers) {
    const main = `${w.cpuPercent}% CPU, loop delay p99 ${w.eventLoopDelayP99Ms} ms max ${w.eventLoopDelayMaxMs} ms`;
    const ramp = `${w.ramp.cpuPercent}% CPU, loop delay p99 ${w.ramp.eventLoopDelayP99Ms} ms`;
    lines.push(`  #${w.index}  ${w.phase === 'run' ? `${main};  ramp: ${ramp}` : `ramp: ${main}`}`);
  }
  for (const warning of generatorWarnings(result)) lines.push(`  WARNING: ${warning}`);
  const portable = portableLine(result.runtime);
  if (portable) lines.push(`  ${portable}`);
  return lines.join('\n') + '\n';
}

/** The first line of every report of a partial merge; undefined for a whole result. */
export function partialLine(result: Pick<BlastResult, 'partial'>): string | undefined {
  if (!result.partial) return undefined;
  return `PARTIAL RESULT: ${result.partial.missing.join(', ')} missing of ${result.partial.expected}; the figures do not account for the whole load`;
}

/** How the run got in step with other shards (--start-at, --barrier), or undefined. */
export function syncLine(result: Pick<BlastResult, 'sync' | 'clock'>): string | undefined {
  const sync = result.sync;
  if (!sync) return undefined;
  const parts: string[] = [];
  if (sync.startAt) parts.push(sync.startLateByMs > 0 ? `--start-at ${sync.startAt} had passed by ${(sync.startLateByMs / 1000).toFixed(1)}s` : `ramp started at --start-at ${sync.startAt}`);
  if (sync.barrier) {
    parts.push(`barrier ${sync.barrier}: waited ${(sync.startWaitMs / 1000).toFixed(1)}s before the ramp` + (sync.runWaitMs === null ? '' : `, ${(sync.runWaitMs / 1000).toFixed(1)}s before the run`));
  }
  if (result.clock?.runStartedAt) parts.push(`run ${result.clock.runStartedAt} to ${result.clock.runEndedAt} (clock ${result.clock.source ?? 'unknown'})`);
  if (sync.problem) parts.push(`FAILED: ${sync.problem}`);
  return parts.join('; ');
}

export function describeSources(plan: { sourceMode: string; sourceAddresses: readonly string[] }): string {
  if (plan.sourceMode === 'kernel') return 'chosen by the kernel';
  const shown = plan.sourceAddresses.slice(0, 3).join(', ');
  return plan.sourceAddresses.length > 3 ? `${shown}, … (${plan.sourceAddresses.length})` : shown;
}

function latencyRow(label: string, summary: LatencySummaryUs): string {
  if (summary.count === 0) return `  ${label.padEnd(15)}(no samples)`;
  const cells = [summary.p50_us, summary.p75_us, summary.p90_us, summary.p99_us, summary.p99_9_us, summary.p99_99_us, summary.max_us, summary.mean_us, summary.stdev_us];
  return `  ${label.padEnd(15)}${cells.map((us) => formatMs(us).padStart(8)).join('')}${formatCount(summary.count).padStart(12)}`;
}
