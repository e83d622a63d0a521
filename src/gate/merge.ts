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
 */
import { mergeRuntimeReports } from '../runtime/fast-paths.js';
import { ConfigError } from '../config/errors.js';
import type { Shard } from '../config/shard.js';
import { SCHEMA_VERSION, type BlastResult, type EndReason } from '../metrics/blast-result.js';
import { encodeHistogram, mergeEncoded, summarize } from '../metrics/histogram.js';
import { mergeTimelines } from '../metrics/timeline.js';

/** Config fields that differ between the shards of one load by design. */
export const SHARD_FIELDS = ['connections', 'connectRate', 'maxHandshakes', 'shard'] as const;

export interface MergeSource {
  readonly path: string;
  readonly result: BlastResult;
}

export type MergedResult = BlastResult & {
  readonly merged: {
    readonly forced: boolean;
    readonly sources: readonly { file: string; shard: Shard | null; startedAt: string; endedAt: string; environment: Record<string, unknown> }[];
  };
};

/** Worst first: the merged run ended for the worst of its parts' reasons. */
const END_REASONS_WORST_FIRST: readonly EndReason[] = ['client-process-lost', 'interrupted', 'idle', 'messages', 'completed', 'duration'];

export function mergeResults(sources: readonly MergeSource[], options: { force?: boolean } = {}): MergedResult {
  if (sources.length === 0) throw new ConfigError('merge', '', 'expected at least one result file');
  refuseRepeats(sources);
  if (!options.force) checkMergeable(sources);
  const results = sources.map((s) => s.result);
  const first = results[0]!;
  const starts = results.map((r) => Date.parse(r.startedAt));
  const ends = results.map((r) => Date.parse(r.endedAt));
  const startedAt = Math.min(...starts);
  const endedAt = Math.max(...ends);
  const rampEnds = results.map((r, i) => (r.rampMs === null ? null : starts[i]! + r.rampMs));
  const runEnds = results.map((r, i) => (rampEnds[i] === null || r.runMs == null ? null : rampEnds[i]! + r.runMs));
  const allKnown = (values: (number | null)[]): values is number[] => values.every((v) => v !== null);

  const histogram = (key: keyof BlastResult['histograms']) => mergeEncoded(results.map((r) => r.histograms[key]).filter((h): h is string => typeof h === 'string'));
  const connect = histogram('connect_us');
  const roundTrip = histogram('roundTrip_us');
  const roundTripRamp = histogram('roundTripRamp_us');
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
    runMs: allKnown(rampEnds) && allKnown(runEnds) ? Math.max(...runEnds) - Math.min(...rampEnds) : null,
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
    histograms: { connect_us: encodeHistogram(connect), roundTrip_us: encodeHistogram(roundTrip), roundTripRamp_us: encodeHistogram(roundTripRamp) },
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
    merged: {
      forced: Boolean(options.force),
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

function shardOf(result: BlastResult): Shard | null {
  return (result.config.shard as Shard | null | undefined) ?? null;
}

function withoutShardFields(config: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...config };
  for (const field of SHARD_FIELDS) delete rest[field];
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
        (key) => !(SHARD_FIELDS as readonly string[]).includes(key) && canonical(config[key]) !== canonical(first!.result.config[key]),
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
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((index) => !seen.has(index));
  if (missing.length) {
    refuse(sources.map((s) => s.path).join(' '), `shard ${missing.map((i) => `${i}/${count}`).join(', ')} missing: the merged result would not account for every connection`);
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
