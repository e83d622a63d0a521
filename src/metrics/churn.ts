/**
 * Connections that come and go during the run: --lifetime (churn: each connection is closed and
 * replaced when its lifetime ends) and --reconnect (a dropped connection is opened again, with
 * backoff). Built from the client processes' snapshots; merged across shards by adding.
 *
 * A storm is many connections dropped at once (a server restart, a deploy): the drops of adjacent
 * wall-clock seconds, the cluster with the most, when that is at least STORM_SHARE of the
 * connections. Its line reads "N of N back in X s (p50 a, p99 b)": X from its first drop to the last
 * of them back, the percentiles of each one's own time back.
 */
import type { BlastCounters } from './blast-counters.js';
import { createHistogram, encodeHistogram, mergeEncoded, summarize, type LatencySummaryUs } from './histogram.js';
import type { DropSecond, WorkerSnapshot } from './worker-snapshot.js';

/** The least share of the connections that, dropped within adjacent seconds, makes a storm. */
export const STORM_SHARE = 0.1;

export interface ChurnReport {
  readonly lifetimeMs: number;
  readonly jitter: number;
  /** Connections closed because their lifetime ended (each replaced). */
  readonly churned: number;
  /** Handshakes completed during the run, and per second of it. */
  readonly connectsDuringRun: number;
  readonly connectsPerSecond: number;
}

export interface StormReport {
  /** The first second with drops (ISO time). */
  readonly at: string;
  readonly dropped: number;
  readonly back: number;
  /** From its first drop to the last of them back; null while some are not back. */
  readonly allBackMs: number | null;
  readonly time: LatencySummaryUs;
  /** Their times back, µs, for merging storms of several shards. */
  readonly histogram: string;
}

export interface ReconnectReport {
  /** Connections dropped (by the server, or the network) during the run or ramp. */
  readonly dropped: number;
  readonly reconnected: number;
  readonly attempts: number;
  readonly attemptsPerReconnect: number;
  /** Still waiting to be back when the run ended. */
  readonly pending: number;
  /** From a drop to the connection being open again. */
  readonly time: LatencySummaryUs;
  readonly storm: StormReport | null;
}

export function churnOf(counters: BlastCounters, config: { lifetimeMs?: number | null; lifetimeJitter?: number | null }, runConnects: number, runMs: number | null): ChurnReport | null {
  if (config.lifetimeMs === undefined || config.lifetimeMs === null) return null;
  return {
    lifetimeMs: config.lifetimeMs,
    jitter: config.lifetimeJitter ?? 0,
    churned: counters.churned ?? 0,
    connectsDuringRun: runConnects,
    connectsPerSecond: runMs ? Math.round((runConnects * 1000) / runMs) : 0,
  };
}

export function reconnectsOf(snapshots: readonly WorkerSnapshot[], counters: BlastCounters, reconnect: boolean): ReconnectReport | null {
  if (!reconnect) return null;
  const times = mergeEncoded(snapshots.flatMap((s) => (s.reconnectHistogram ? [s.reconnectHistogram] : [])));
  const dropped = snapshots.flatMap((s) => s.dropSeconds ?? []).reduce((n, d) => n + d.dropped, 0);
  return {
    dropped,
    reconnected: counters.reconnected,
    attempts: counters.reconnectAttempts,
    attemptsPerReconnect: counters.reconnected ? Math.round((counters.reconnectAttempts / counters.reconnected) * 100) / 100 : 0,
    pending: counters.reconnecting,
    time: summarize(times),
    storm: stormOf(snapshots.flatMap((s) => s.dropSeconds ?? []), Number(counters.accepted) > 0 ? counters.open + counters.reconnecting : 0),
  };
}

/** The storm among drops by second (see the module's comment), or null. `connections`: held at the end. */
export function stormOf(seconds: readonly DropSecond[], connections: number): StormReport | null {
  const bySecond = new Map<number, { dropped: number; back: number; lastBackAt: number; firstDropAt: number; histograms: string[] }>();
  for (const d of seconds) {
    const entry = bySecond.get(d.second) ?? { dropped: 0, back: 0, lastBackAt: 0, firstDropAt: Infinity, histograms: [] };
    entry.dropped += d.dropped;
    entry.back += d.back;
    entry.lastBackAt = Math.max(entry.lastBackAt, d.lastBackAt);
    entry.firstDropAt = Math.min(entry.firstDropAt, d.firstDropAt ?? d.second * 1000);
    entry.histograms.push(d.backHistogram);
    bySecond.set(d.second, entry);
  }
  const ordered = [...bySecond].sort((a, b) => a[0] - b[0]);
  let best: (typeof ordered)[number][] = [];
  let current: (typeof ordered)[number][] = [];
  const total = (cluster: typeof current) => cluster.reduce((n, [, e]) => n + e.dropped, 0);
  for (const entry of ordered) {
    if (current.length && entry[0] - current[current.length - 1]![0] > 1) current = [];
    current.push(entry);
    if (total(current) > total(best)) best = [...current];
  }
  const dropped = total(best);
  if (dropped === 0 || dropped < STORM_SHARE * Math.max(connections, dropped)) return null;
  const back = best.reduce((n, [, e]) => n + e.back, 0);
  const histogram = mergeEncoded(best.flatMap(([, e]) => e.histograms));
  const firstDropAt = Math.min(...best.map(([, e]) => e.firstDropAt));
  return {
    at: new Date(firstDropAt).toISOString(),
    dropped,
    back,
    allBackMs: back === dropped ? Math.max(...best.map(([, e]) => e.lastBackAt)) - firstDropAt : null,
    time: summarize(histogram),
    histogram: encodeHistogram(histogram),
  };
}

/** Shards of one load: counts add up, histograms are added, the storms (at the same time) are one. */
export function mergeReconnects(parts: readonly (ReconnectReport | null | undefined)[], times: string): ReconnectReport | null {
  const present = parts.filter((p): p is ReconnectReport => Boolean(p));
  if (present.length === 0) return null;
  const add = (key: 'dropped' | 'reconnected' | 'attempts' | 'pending') => present.reduce((n, p) => n + p[key], 0);
  const storms = present.flatMap((p) => (p.storm ? [p.storm] : []));
  let storm: StormReport | null = null;
  if (storms.length) {
    const histogram = mergeEncoded(storms.map((s) => s.histogram));
    const dropped = storms.reduce((n, s) => n + s.dropped, 0);
    const back = storms.reduce((n, s) => n + s.back, 0);
    const at = storms.map((s) => s.at).sort()[0]!;
    storm = {
      at,
      dropped,
      back,
      allBackMs: storms.every((s) => s.allBackMs !== null) ? Math.max(...storms.map((s) => Date.parse(s.at) + s.allBackMs!)) - Date.parse(at) : null,
      time: summarize(histogram),
      histogram: encodeHistogram(histogram),
    };
  }
  const reconnected = add('reconnected');
  return {
    dropped: add('dropped'),
    reconnected,
    attempts: add('attempts'),
    attemptsPerReconnect: reconnected ? Math.round((add('attempts') / reconnected) * 100) / 100 : 0,
    pending: add('pending'),
    time: summarize(times ? mergeEncoded([times]) : createHistogram()),
    storm,
  };
}

export function mergeChurn(parts: readonly (ChurnReport | null | undefined)[], runMs: number | null): ChurnReport | null {
  const present = parts.filter((p): p is ChurnReport => Boolean(p));
  if (present.length === 0) return null;
  const connects = present.reduce((n, p) => n + p.connectsDuringRun, 0);
  return {
    lifetimeMs: present[0]!.lifetimeMs,
    jitter: present[0]!.jitter,
    churned: present.reduce((n, p) => n + p.churned, 0),
    connectsDuringRun: connects,
    connectsPerSecond: runMs ? Math.round((connects * 1000) / runMs) : 0,
  };
}
