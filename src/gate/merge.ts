/**
 * Merge blast results (shards of one load, or runs of one config from several machines) into one
 * exact result: counters summed, histograms added (never percentiles averaged), times spanned.
 *
 * Refused unless `force`: another schemaVersion, another target, another config apart from the
 * fields a shard changes (connections, connectRate, maxHandshakes, shard), and an incomplete or
 * repeated set of shards, because the merged figures would then not be the load that was asked for.
 *
 * Rates add up (the shards ran at the same time): messages.perSecond is the sum of the shards'.
 * rampMs runs from the first start to the last ramp's end; runMs from the first run phase's start
 * to the last one's end. Timelines add up per second (see mergeTimelines).
 *
 * That the shards ran at the same time is measured, not assumed: `merged.overlap` is the share of
 * the merged run phase (first start to last end, wall clock) during which every shard's run phase
 * was going. Under `minOverlap` (default 95%) the merge is refused unless `force`: 4 × 25,000
 * connections one after another are not 100,000 at once.
 *
 * `expect`: the number of shards (or, for results that are not shards, of files) the load was
 * made of. With `allowPartial`, what arrived is merged and marked `partial` (the shards missing
 * named), and a gate on it exits 1 unless told otherwise (gate/verdict.ts).
 */
import { mergeRuntimeReports } from '../runtime/fast-paths.js';
import { ConfigError } from '../config/errors.js';
import type { Shard } from '../config/shard.js';
import { SCHEMA_VERSION, type BlastResult, type EndReason, type ProtocolReport, type RunClock } from '../metrics/blast-result.js';
import { encodeHistogram, mergeEncoded, summarize, type Histogram } from '../metrics/histogram.js';
import { mergeTimelines } from '../metrics/timeline.js';
import { mergeChurn, mergeReconnects } from '../metrics/churn.js';
import { mergeCompression } from '../metrics/compression.js';

/** Config fields that differ between the shards of one load by design. */
export const SHARD_FIELDS = ['connections', 'connectRate', 'maxHandshakes', 'shard'] as const;
/** Config fields that say how a shard was started and watched, not what load it made. */
export const RUN_ONLY_FIELDS = ['startAt', 'barrier', 'barrierTimeoutMs', 'metricsPort', 'metricsHost'] as const;

/** The default least overlap of the shards' run phases: under it, merge refuses (unless --force). */
export const DEFAULT_MIN_OVERLAP = 0.95;

export interface MergeOptions {
  readonly force?: boolean;
  /** Shards (or files) the load was made of: those missing are named. */
  readonly expect?: number;
  /** Merge what arrived when shards are missing, and mark the result partial. */
  readonly allowPartial?: boolean;
  /** 0 to 1: the least share of the merged run during which every shard ran. Default 0.95. */
  readonly minOverlap?: number;
}

/** How far the shards' run phases overlapped, on the wall clock. */
export interface RunOverlap {
  /** togetherMs / spanMs, 0 to 1 (1 when every run had no length and they coincided). */
  readonly share: number;
  /** How long every shard's run phase was going at once. */
  readonly togetherMs: number;
  /** From the first run phase's start to the last one's end. */
  readonly spanMs: number;
}

export interface MergeSource {
  readonly path: string;
  readonly result: BlastResult;
}

export type MergedResult = BlastResult & {
  readonly merged: {
    readonly forced: boolean;
    /** null: fewer than two results, or one without a run phase. */
    readonly overlap: RunOverlap | null;
    readonly sources: readonly { file: string; shard: Shard | null; startedAt: string; endedAt: string; environment: Record<string, unknown> }[];
  };
};

/** Worst first: the merged run ended for the worst of its parts' reasons. */
const END_REASONS_WORST_FIRST: readonly EndReason[] = ['client-process-lost', 'barrier', 'interrupted', 'idle', 'messages', 'completed', 'duration'];

export function mergeResults(sources: readonly MergeSource[], options: MergeOptions = {}): MergedResult {
  if (sources.length === 0) throw new ConfigError('merge', '', 'expected at least one result file');
  refuseRepeats(sources);
  if (!options.force) checkMergeable(sources);
  const missing = missingParts(sources, options);
  const results = sources.map((s) => s.result);
  const first = results[0]!;
  const starts = results.map((r) => Date.parse(r.startedAt));
  const ends = results.map((r) => Date.parse(r.endedAt));
  const startedAt = Math.min(...starts);
  const endedAt = Math.max(...ends);
  const rampEnds = results.map((r, i) => (r.rampMs === null ? null : starts[i]! + r.rampMs));
  const runs = results.map(runWindow);
  const allKnown = <T>(values: (T | null)[]): values is T[] => values.every((v) => v !== null);
  const overlap = runOverlap(results);
  const minOverlap = options.minOverlap ?? DEFAULT_MIN_OVERLAP;
  const withoutRun = sources.filter((s) => runWindow(s.result) === null);
  if (!options.force && withoutRun.length > 0 && withoutRun.length < sources.length) {
    throw new ConfigError(
      'merge',
      withoutRun.map((s) => s.path).join(' '),
      `${withoutRun.length === 1 ? 'it has' : 'they have'} no run phase (${withoutRun.map((s) => `endReason ${s.result.endReason}`).join(', ')}) while the others ran: the merged run would not be the load asked for (--force merges anyway)`,
    );
  }
  if (!options.force && overlap && overlap.share < minOverlap) {
    throw new ConfigError(
      'merge',
      sources.map((s) => s.path).join(' '),
      `the shards' run phases overlapped ${percent(overlap.share)} (all running together ${(overlap.togetherMs / 1000).toFixed(1)} s of ${(overlap.spanMs / 1000).toFixed(1)} s), under --min-overlap ${percent(minOverlap)}: the merged figures would describe a load that never ran at once; start the shards together (blast --barrier or --start-at), or --force`,
    );
  }

  const histogram = (key: keyof BlastResult['histograms']) => mergeEncoded(results.map((r) => r.histograms[key]).filter((h): h is string => typeof h === 'string'));
  const connect = histogram('connect_us');
  const roundTrip = histogram('roundTrip_us');
  const roundTripRamp = histogram('roundTripRamp_us');
  const connectRun = histogram('connectRun_us');
  const reconnectTimes = histogram('reconnect_us');
  const handshake2 = histogram('handshake2_us');
  const outcomes = results.map((r) => r.outcomes).reduce((a, b) => addNumbers(a, b));
  // Shards run side by side: their per-second rates add up.
  const messages = results.map((r) => r.messages).reduce((a, b) => addNumbers(a, b));

  return {
    schemaVersion: SCHEMA_VERSION,
    tool: first.tool,
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    durationMs: endedAt - startedAt,
    rampMs: allKnown(rampEnds) ? Math.max(...rampEnds) - startedAt : null,
    runMs: allKnown(runs) ? Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start)) : null,
    endReason: END_REASONS_WORST_FIRST.find((reason) => results.some((r) => r.endReason === reason)) ?? first.endReason,
    interrupted: results.some((r) => r.interrupted),
    missingClientProcesses: results.flatMap((r) => r.missingClientProcesses),
    target: { url: first.target.url, ownServer: results.some((r) => r.target.ownServer) },
    config: mergedConfig(results),
    plan: {
      workers: results.reduce((n, r) => n + r.plan.workers, 0),
      connectionsPerWorker: results.flatMap((r) => r.plan.connectionsPerWorker),
      sourceMode: results.every((r) => r.plan.sourceMode === first.plan.sourceMode) ? first.plan.sourceMode : 'mixed',
      sourceAddresses: [...new Set(results.flatMap((r) => r.plan.sourceAddresses))],
    },
    outcomes,
    messages,
    fanout: mergedFanout(results),
    latency: {
      measures: first.latency.measures ?? 'echo',
      roundTripMeasuredFrom: first.latency.roundTripMeasuredFrom,
      coordinatedOmissionCorrected: first.latency.coordinatedOmissionCorrected,
      range: first.latency.range,
      connect: summarize(connect),
      roundTrip: summarize(roundTrip),
      phases: { ramp: { roundTrip: summarize(roundTripRamp) }, run: { roundTrip: summarize(roundTrip) } },
    },
    histograms: {
      connect_us: encodeHistogram(connect),
      roundTrip_us: encodeHistogram(roundTrip),
      roundTripRamp_us: encodeHistogram(roundTripRamp),
      connectRun_us: encodeHistogram(connectRun),
      ...(results.some((r) => r.histograms.reconnect_us) ? { reconnect_us: encodeHistogram(reconnectTimes) } : {}),
      ...(results.some((r) => r.histograms.handshake2_us) ? { handshake2_us: encodeHistogram(handshake2) } : {}),
    },
    protocol: mergeProtocols(results.map((r) => r.protocol), handshake2),
    churn: mergeChurn(results.map((r) => r.churn), allKnown(runs) && runs.length ? Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start)) : null),
    reconnects: mergeReconnects(results.map((r) => r.reconnects), encodeHistogram(reconnectTimes)),
    compression: mergeCompression(results.map((r) => r.compression)),
    timeline: mergeTimelines(results.map((r) => r.timeline)),
    generator: {
      // Numbered across the merged results, in file order, so that each client process has its own.
      workers: results.flatMap((r) => r.generator.workers).map((worker, index) => ({ ...worker, index })),
      bottleneck: results.some((r) => r.generator.bottleneck),
      busyCpuPercent: first.generator.busyCpuPercent,
      busyEventLoopDelayP99Ms: first.generator.busyEventLoopDelayP99Ms,
    },
    runtime: mergeRuntimeReports(results.map((r) => r.runtime)),
    environment: first.environment,
    clock: {
      runStartedAt: allKnown(runs) && runs.length ? new Date(Math.min(...runs.map((r) => r.start))).toISOString() : null,
      runEndedAt: allKnown(runs) && runs.length ? new Date(Math.max(...runs.map((r) => r.end))).toISOString() : null,
      source: [...new Set(results.map((r) => r.clock?.source ?? null).filter((s): s is string => s !== null))].join(', ') || null,
    } satisfies RunClock,
    sync: null,
    ...(missing ? { partial: missing } : {}),
    merged: {
      forced: Boolean(options.force),
      overlap,
      sources: sources.map((s) => ({
        file: s.path,
        shard: shardOf(s.result),
        startedAt: s.result.startedAt,
        endedAt: s.result.endedAt,
        environment: s.result.environment,
      })),
    },
  };
}

/** Shards of one protocol run: counts and reasons add up, the second handshakes' histograms too. */
function mergeProtocols(parts: readonly (ProtocolReport | null | undefined)[], handshake2: Histogram): ProtocolReport | null {
  const present = parts.filter((p): p is ProtocolReport => Boolean(p));
  if (present.length === 0) return null;
  const add = (tables: Record<string, number>[]) => {
    const sums: Record<string, number> = {};
    for (const table of tables) for (const [key, count] of Object.entries(table)) sums[key] = (sums[key] ?? 0) + count;
    return sums;
  };
  return { name: present[0]!.name, counts: add(present.map((p) => p.counts)), reasons: add(present.map((p) => p.reasons)), handshake: summarize(handshake2) };
}

/**
 * Shards of one pub/sub run: what was published and delivered adds up. Each shard expected its own
 * fan-out; the merged run expects the largest of them (a message reaches every subscriber, in
 * whichever shard it is).
 */
function mergedFanout(results: readonly BlastResult[]): BlastResult['fanout'] {
  const parts = results.flatMap((r) => (r.fanout ? [r.fanout] : []));
  if (parts.length === 0) return null;
  const published = parts.reduce((n, f) => n + f.published, 0);
  const delivered = parts.reduce((n, f) => n + f.delivered, 0);
  const expected = Math.max(...parts.map((f) => f.expected));
  return {
    published,
    delivered,
    expected,
    observed: published > 0 ? Math.round((delivered / published) * 1000) / 1000 : 0,
    missed: Math.max(0, expected * published - delivered),
  };
}

/**
 * A result's run phase on the wall clock: its clock's times, or (results written before they were
 * recorded) startedAt + rampMs, for runMs. null when it had no run phase.
 */
export function runWindow(result: BlastResult): { start: number; end: number } | null {
  if (result.clock) {
    if (result.clock.runStartedAt === null || result.clock.runEndedAt === null) return null;
    return { start: Date.parse(result.clock.runStartedAt), end: Date.parse(result.clock.runEndedAt) };
  }
  if (result.rampMs === null || result.runMs === null || result.runMs === undefined) return null;
  const start = Date.parse(result.startedAt) + result.rampMs;
  return { start, end: start + result.runMs };
}

/** The shards' run phases' overlap (see RunOverlap); null for one result, or when one had no run. */
export function runOverlap(results: readonly BlastResult[]): RunOverlap | null {
  if (results.length < 2) return null;
  const windows = results.map(runWindow);
  if (windows.some((w) => w === null)) return null;
  const runs = windows as { start: number; end: number }[];
  // Runs of no length (-d 0): no run phase to overlap, nothing to judge.
  if (runs.every((r) => r.end === r.start)) return null;
  const spanMs = Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start));
  const togetherMs = Math.max(0, Math.min(...runs.map((r) => r.end)) - Math.max(...runs.map((r) => r.start)));
  return { share: spanMs === 0 ? 1 : togetherMs / spanMs, togetherMs, spanMs };
}

function percent(share: number): string {
  return `${(Math.floor(share * 1000) / 10).toFixed(1)}%`;
}

/**
 * The parts of the load that did not arrive: shards by number, or, for results that are not
 * shards, a count against --expect. Missing parts are refused (exit 2) unless allowPartial, which
 * returns them for the result's `partial`; undefined when nothing is missing.
 */
function missingParts(sources: readonly MergeSource[], options: MergeOptions): { expected: number; missing: string[] } | undefined {
  const shards = sources.map((s) => shardOf(s.result)).filter((s): s is Shard => s !== null);
  const paths = sources.map((s) => s.path).join(' ');
  let expected: number;
  let missing: string[];
  if (shards.length > 0 && shards.length === sources.length) {
    expected = shards[0]!.count;
    if (options.expect !== undefined && options.expect !== expected) {
      throw new ConfigError('--expect', options.expect, `the results are shards of ${expected} (--shard i/${expected})`);
    }
    const seen = new Set(shards.map((s) => s.index));
    missing = Array.from({ length: expected }, (_, i) => i + 1).filter((i) => !seen.has(i)).map((i) => `${i}/${expected}`);
  } else {
    if (options.expect === undefined) return undefined;
    expected = options.expect;
    if (sources.length > expected) throw new ConfigError('--expect', options.expect, `${sources.length} results were given`);
    missing = Array.from({ length: expected - sources.length }, (_, i) => `result ${sources.length + i + 1} of ${expected}`);
  }
  if (missing.length === 0) return undefined;
  if (!options.allowPartial && !options.force) {
    throw new ConfigError('merge', paths, `${missing.join(', ')} missing: the merged result would not account for every connection (--allow-partial merges what arrived, marked partial)`);
  }
  // --force merges an incomplete set too, and says so the same way.
  return { expected, missing };
}

function shardOf(result: BlastResult): Shard | null {
  return (result.config.shard as Shard | null | undefined) ?? null;
}

function withoutShardFields(config: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...config };
  for (const field of [...SHARD_FIELDS, ...RUN_ONLY_FIELDS]) delete rest[field];
  return rest;
}

function mergedConfig(results: readonly BlastResult[]): Record<string, unknown> {
  const total = (field: string) => results.reduce((n, r) => n + (Number(r.config[field]) || 0), 0);
  return { ...results[0]!.config, connections: total('connections'), connectRate: total('connectRate'), maxHandshakes: total('maxHandshakes'), shard: null };
}

/**
 * The same run given twice (the same file, or a copy): its start, end and connect histogram are
 * those of another source. Merged, every count would double; even --force does not do that.
 */
function refuseRepeats(sources: readonly MergeSource[]): void {
  const seen = new Map<string, string>();
  for (const { path, result } of sources) {
    const key = `${result.startedAt} ${result.endedAt} ${result.histograms.connect_us}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new ConfigError('merge', path, `it is the same run as ${earlier} (same start, end and connect histogram): merged, every count would double`);
    seen.set(key, path);
  }
}

/** Throws ConfigError naming the file and what differs. */
export function checkMergeable(sources: readonly MergeSource[]): void {
  const refuse = (path: string, why: string): never => {
    throw new ConfigError('merge', path, `${why} (--force merges anyway)`);
  };
  const [first, ...rest] = sources;
  for (const { path, result } of sources) {
    if (result.schemaVersion !== SCHEMA_VERSION) refuse(path, `schemaVersion ${result.schemaVersion}; merge takes schemaVersion ${SCHEMA_VERSION} results`);
  }
  const reference = canonical(withoutShardFields(first!.result.config));
  for (const { path, result } of rest) {
    if (result.target.url !== first!.result.target.url) refuse(path, `target ${result.target.url} is not ${first!.result.target.url} (${first!.path})`);
    const config = withoutShardFields(result.config);
    if (canonical(config) !== reference) {
      const differing = [...new Set([...Object.keys(config), ...Object.keys(first!.result.config)])].filter(
        (key) => !([...SHARD_FIELDS, ...RUN_ONLY_FIELDS] as readonly string[]).includes(key) && canonical(config[key]) !== canonical(first!.result.config[key]),
      );
      refuse(path, `its config differs from ${first!.path} in ${differing.join(', ')}`);
    }
  }
  const shards = sources.map((s) => ({ path: s.path, shard: shardOf(s.result) }));
  const sharded = shards.filter((s) => s.shard !== null);
  if (sharded.length === 0) return;
  if (sharded.length !== shards.length) refuse(shards.find((s) => s.shard === null)!.path, 'it is not a shard, and the others are');
  const count = sharded[0]!.shard!.count;
  const seen = new Set<number>();
  for (const { path, shard } of sharded) {
    if (shard!.count !== count) refuse(path, `it is shard ${shard!.index}/${shard!.count}, the others are of ${count}`);
    if (seen.has(shard!.index)) refuse(path, `shard ${shard!.index}/${count} is there twice`);
    seen.add(shard!.index);
  }
}

/** JSON with sorted keys, so that key order does not make two configs differ. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** Add two records of counts field by field, recursing into nested records (byStatus, byReason, ...). */
function addNumbers<T>(a: T, b: T): T {
  if (typeof a === 'number' || typeof b === 'number') return ((Number(a) || 0) + (Number(b) || 0)) as T;
  const sum: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [key, value] of Object.entries((b ?? {}) as Record<string, unknown>)) sum[key] = key in sum ? addNumbers(sum[key], value) : value;
  return sum as T;
}
