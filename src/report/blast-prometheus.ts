/**
 * blast's live /metrics (--metrics-port): the Prometheus text exposition format, a pure function
 * from what the coordinator knows while the run goes to text. Every series carries the shard
 * ("1/1" when not sharded), so that the pods of one sharded run add up in one query.
 *
 * Latency is exposed as classic Prometheus histograms (cumulative `le` buckets, `_sum`, `_count`)
 * in seconds, with buckets from 0.5 ms to 30 s: WebSocket round trips on a healthy server are
 * sub-millisecond to tens of milliseconds, handshakes under load reach seconds. The counts come
 * from the run's own HDR histograms (exact to their 3 significant digits), so they agree with the
 * result written at the end.
 */
import type { BlastCounters } from '../metrics/blast-counters.js';
import type { Histogram } from '../metrics/histogram.js';

/** Bucket upper bounds, seconds. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Every metric name blast's /metrics serves (the Grafana dashboard in deploy/ uses only these). */
export const BLAST_METRICS = {
  open: 'wsbench_blast_connections_open',
  target: 'wsbench_blast_connections_target',
  attempts: 'wsbench_blast_connection_attempts_total',
  rejected: 'wsbench_blast_connections_rejected_total',
  failed: 'wsbench_blast_connections_failed_total',
  dropped: 'wsbench_blast_connections_dropped_total',
  messages: 'wsbench_blast_messages_total',
  bytes: 'wsbench_blast_bytes_total',
  mismatched: 'wsbench_blast_messages_mismatched_total',
  rtt: 'wsbench_blast_rtt_seconds',
  connect: 'wsbench_blast_connect_seconds',
  phase: 'wsbench_blast_phase',
  cpu: 'wsbench_blast_generator_cpu_ratio',
  loopDelay: 'wsbench_blast_generator_event_loop_delay_p99_seconds',
  processes: 'wsbench_blast_client_processes',
  churned: 'wsbench_blast_connections_churned_total',
  reconnected: 'wsbench_blast_reconnects_total',
  reconnecting: 'wsbench_blast_connections_reconnecting',
} as const;

export const BLAST_PHASES = ['waiting', 'ramp', 'run', 'closing', 'done'] as const;
export type LivePhase = (typeof BLAST_PHASES)[number];

/** One client process's own load over its last second. */
export interface LiveProcessHealth {
  readonly index: number;
  /** CPU time over wall time in the last second: 1 is one core busy. */
  readonly cpuRatio: number;
  readonly loopDelayP99Ms: number;
}

export interface LiveBlastStats {
  /** "i/N", or "1/1" without --shard. */
  readonly shard: string;
  readonly phase: LivePhase;
  /** This shard's connections (-c, or its share of it). */
  readonly targetConnections: number;
  readonly counters: BlastCounters;
  /** Round trips (or deliveries) and handshakes so far, µs. */
  readonly roundTrips: Histogram;
  readonly connects: Histogram;
  readonly processes: readonly LiveProcessHealth[];
}

/** Label values escaped as the exposition format asks (backslash, quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatBlastPrometheus(stats: LiveBlastStats): string {
  const lines: string[] = [];
  const shard = `shard="${label(stats.shard)}"`;
  const metric = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}{${shard}${labels}} ${formatValue(value)}`);
  };
  const c = stats.counters;
  const sum = (record: Record<string, number>) => Object.values(record).reduce((n, v) => n + v, 0);
  metric(BLAST_METRICS.open, 'gauge', 'WebSocket connections open now.', [['', c.open]]);
  metric(BLAST_METRICS.target, 'gauge', "This shard's connections to open (-c, or its share).", [['', stats.targetConnections]]);
  metric(BLAST_METRICS.attempts, 'counter', 'Connection attempts answered, by outcome.', [
    [',outcome="accepted"', c.accepted],
    [',outcome="rejected"', sum(c.rejected)],
    [',outcome="failed"', sum(c.failed)],
  ]);
  metric(BLAST_METRICS.rejected, 'counter', 'Upgrades the server refused, by HTTP status.', Object.entries(c.rejected).map(([status, n]) => [`,status="${label(status)}"`, n]));
  metric(BLAST_METRICS.failed, 'counter', 'Connection attempts that failed, by reason.', Object.entries(c.failed).map(([reason, n]) => [`,reason="${label(reason)}"`, n]));
  metric(BLAST_METRICS.dropped, 'counter', 'Accepted connections that ended before the run did, by close code.', Object.entries(c.dropped).map(([code, n]) => [`,code="${label(code)}"`, n]));
  metric(BLAST_METRICS.messages, 'counter', 'WebSocket messages, by direction.', [
    [',direction="sent"', c.messagesSent],
    [',direction="received"', c.messagesReceived],
  ]);
  metric(BLAST_METRICS.bytes, 'counter', 'WebSocket payload bytes, by direction.', [
    [',direction="sent"', c.bytesSent],
    [',direction="received"', c.bytesReceived],
  ]);
  metric(BLAST_METRICS.mismatched, 'counter', 'Messages that were not the echo or reply expected.', [['', c.mismatched]]);
  metric(BLAST_METRICS.churned, 'counter', '--lifetime: connections closed at the end of their lifetime and replaced.', [['', c.churned ?? 0]]);
  metric(BLAST_METRICS.reconnected, 'counter', '--reconnect: dropped connections opened again.', [['', c.reconnected ?? 0]]);
  metric(BLAST_METRICS.reconnecting, 'gauge', '--reconnect: dropped connections not back yet.', [['', c.reconnecting ?? 0]]);
  histogram(lines, shard, BLAST_METRICS.rtt, 'Round trip (echo, reply) or delivery latency, seconds.', stats.roundTrips);
  histogram(lines, shard, BLAST_METRICS.connect, 'From TCP connect to the 101 upgrade response, seconds.', stats.connects);
  metric(BLAST_METRICS.phase, 'gauge', 'The phase of the run: 1 for the current one.', BLAST_PHASES.map((phase) => [`,phase="${phase}"`, phase === stats.phase ? 1 : 0]));
  metric(BLAST_METRICS.processes, 'gauge', 'Client processes of this shard still running.', [['', stats.processes.length]]);
  metric(BLAST_METRICS.cpu, 'gauge', "A client process's CPU time over wall time in its last second (1 = one core busy).", stats.processes.map((p) => [`,process="${p.index}"`, p.cpuRatio]));
  metric(BLAST_METRICS.loopDelay, 'gauge', "p99 of a client process's event-loop delay in its last second, seconds.", stats.processes.map((p) => [`,process="${p.index}"`, p.loopDelayP99Ms / 1000]));
  return lines.join('\n') + '\n';
}

function histogram(lines: string[], shard: string, name: string, help: string, values: Histogram): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  const counts = countsAtOrBelow(values, LATENCY_BUCKETS_S.map((s) => s * 1e6));
  LATENCY_BUCKETS_S.forEach((bound, i) => lines.push(`${name}_bucket{${shard},le="${bound}"} ${counts[i]}`));
  const total = values.totalCount;
  lines.push(`${name}_bucket{${shard},le="+Inf"} ${total}`);
  // HDR keeps counts, not the sum: the mean times the count, to the histogram's precision.
  lines.push(`${name}_sum{${shard}} ${formatValue(total === 0 ? 0 : (values.mean * total) / 1e6)}`);
  lines.push(`${name}_count{${shard}} ${total}`);
}

interface ValuesIterator {
  reset(): void;
  hasNext(): boolean;
  next(): { valueIteratedTo: number; countAtValueIteratedTo: number };
}

/**
 * How many recorded values are at most each bound (ascending, µs): one pass over the values
 * recorded, through hdr-histogram-js's JsHistogram.recordedValuesIterator. A value counts under a
 * bound when the highest value of its bucket is at most the bound.
 */
export function countsAtOrBelow(values: Histogram, boundsUs: readonly number[]): number[] {
  const counts = boundsUs.map(() => 0);
  if (values.totalCount === 0) return counts;
  const iterator = (values as unknown as { recordedValuesIterator: ValuesIterator }).recordedValuesIterator;
  iterator.reset();
  while (iterator.hasNext()) {
    const step = iterator.next();
    for (let i = boundsUs.length - 1; i >= 0 && step.valueIteratedTo <= boundsUs[i]!; i--) counts[i]! += step.countAtValueIteratedTo;
  }
  return counts;
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Math.round(value * 1e6) / 1e6);
}
