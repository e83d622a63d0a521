/**
 * The result of a blast run: what `--json` prints, what results/ files hold, and what the API
 * returns. Built from worker snapshots by summing counters and adding histograms.
 */
import { runtimeReport, type RuntimeReport } from '../runtime/fast-paths.js';
import { addBlastCounters, emptyBlastCounters, GENERATOR_LIMIT_REASONS, sum, type BlastCounters } from './blast-counters.js';
import { encodeHistogram, HISTOGRAM_RANGE, mergeEncoded, summarize, type LatencySummaryUs } from './histogram.js';
import { redactHeaders } from '../config/redact-headers.js';
import type { TimelineEntry } from './timeline.js';
import { churnOf, reconnectsOf, type ChurnReport, type ReconnectReport } from './churn.js';
import { compressionOf, type CompressionReport } from './compression.js';
import type { DeflateOffer } from '../protocol/permessage-deflate.js';
import type { PhaseHealth, WorkerSnapshot } from './worker-snapshot.js';

/**
 * 2: ramp and run phases (round trips per phase, runMs, endReason); the generator's health as data,
 * its advice as text only in reports.
 */
export const SCHEMA_VERSION = 2;

/**
 * Why the run ended. 'idle': every connection had ended before -d (refused, failed or dropped).
 * 'completed': --scenario, every open connection ran its last step or stopped at an expect that timed out.
 */
export type EndReason = 'duration' | 'messages' | 'completed' | 'idle' | 'interrupted' | 'client-process-lost' | 'barrier';

/**
 * Wall-clock times of the run phase and the host's clock source: shards on several hosts compare
 * them (merge's overlap), so they are only as good as the hosts' clocks agree (NTP, chrony).
 */
export interface RunClock {
  readonly runStartedAt: string | null;
  readonly runEndedAt: string | null;
  /** Linux's current clocksource (tsc, kvm-clock, …); null where unknown. */
  readonly source: string | null;
}

/** How this run got in step with other shards: --start-at and --barrier (null with neither). */
export interface RunSync {
  readonly startAt: string | null;
  readonly barrier: string | null;
  /** Waited before the first connection (for --start-at, then at the barrier). */
  readonly startWaitMs: number;
  /** --start-at had passed by this much when the run got there. */
  readonly startLateByMs: number;
  /** Waited at the barrier after the ramp, for the other shards' ramps (null: no run barrier). */
  readonly runWaitMs: number | null;
  /** Why the barrier did not release the run (endReason 'barrier'); null otherwise. */
  readonly problem: string | null;
}

export interface PhaseHealthSummary {
  cpuPercent: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

/** A client process's health over its main phase (the run, or the ramp when there was no run). */
export interface WorkerHealth extends PhaseHealthSummary {
  readonly index: number;
  readonly phase: 'run' | 'ramp';
  readonly ramp: PhaseHealthSummary;
  /** Busy enough (CPU or event-loop delay) that it, not the server, may have set the numbers. */
  readonly busy: boolean;
}

export interface GeneratorHealth {
  readonly workers: readonly WorkerHealth[];
  /** True when a client process was busy: see WorkerHealth.busy. */
  readonly bottleneck: boolean;
  /** The thresholds behind `busy`. */
  readonly busyCpuPercent: number;
  readonly busyEventLoopDelayP99Ms: number;
}

export interface BlastResult {
  readonly schemaVersion: number;
  readonly tool: { name: 'wsbench'; version: string };
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  /** From the first connection attempt until every attempt had its outcome (null if the ramp never finished). */
  readonly rampMs: number | null;
  /** The run phase, from the end of the ramp to the end of traffic (null if it never began). */
  readonly runMs: number | null;
  readonly endReason: EndReason;
  readonly interrupted: boolean;
  /** Client processes that ended without reporting: their connections are missing from the counts. */
  readonly missingClientProcesses: readonly number[];
  /**
   * `found`: no URL was given and blast used the wsbench serve answering at serve's default address
   * (absent otherwise, and from results written before it existed).
   */
  readonly target: { url: string; ownServer: boolean; found?: boolean };
  readonly config: Record<string, unknown>;
  readonly plan: { workers: number; connectionsPerWorker: number[]; sourceMode: string; sourceAddresses: readonly string[] };
  readonly outcomes: {
    attempted: number;
    accepted: number;
    rejected: { total: number; byStatus: Record<string, number> };
    failed: {
      total: number;
      byReason: Record<string, number>;
      generatorLimits: Record<string, number>;
      /** Of the ETIMEDOUT failures, those during which the client process itself stalled (≥ 10% of the timeout). */
      timeoutsWhileClientStalled: number;
    };
    dropped: { total: number; byCloseCode: Record<string, number> };
    addressRetries: number;
    /**
     * The fewest handshakes blast let be in flight during the ramp while the server set the pace,
     * over all processes: below --max-handshakes when connect latency passed an eighth of the connect
     * timeout while connections waited, or a quarter of it (congestion: the window is lowered)
     * (blast/handshake-window.ts). Absent from results written before it existed.
     */
    handshakesInFlightLowest?: number;
  };
  readonly messages: {
    sent: number;
    received: number;
    /** Of received, those that arrived during the ramp (with --ramp-traffic). */
    receivedDuringRamp: number;
    /**
     * Of received, those that arrived in the closing drain (subscribe, fire-and-forget: sending had
     * stopped; messages in flight still count). Not in perSecond. Absent from older results.
     */
    receivedDuringDrain?: number;
    /** Sent and not echoed when the run ended (recorded as round trips of at least their age then). */
    unanswered: number;
    mismatched: number;
    delayedSends: number;
    bytesSent: number;
    bytesReceived: number;
    /** Echoes per second of the run phase. */
    perSecond: number;
    bytesPerSecond: number;
    /** --reply-id: messages received whose id matched no outstanding request (not in received). */
    unmatched: number;
    /** Subscribe: deliveries seen twice on one connection (not in delivered). */
    duplicates: number;
    /** Subscribe: --subscribe messages sent, one per connection (not in sent). */
    subscribed: number;
    /** Subscribe: messages received that carried a publisher's timestamp, duplicates excepted. */
    delivered: number;
    /** --scenario: connections that ran every step. */
    completed: number;
    /** --scenario: messages an `on:` rule took (not in received, not unmatched); absent before rules existed. */
    onMatched?: number;
    /** --scenario: messages `on:` rules sent, answers and timers (not in sent). */
    onSent?: number;
  };
  /**
   * Subscribe with publishers: deliveries per published message. `expected` is --expect-fanout,
   * or every other accepted connection; `missed` is what fell short of expected × published.
   * null for other patterns.
   */
  readonly fanout: { published: number; delivered: number; expected: number; observed: number; missed: number } | null;
  readonly latency: {
    /**
     * What the round-trip histograms hold: echo round trips, reply round trips (--reply-id and
     * scenario expects), delivery latency (subscribe: publisher's {{now_us}} to arrival), or none
     * (fire-and-forget).
     */
    measures: LatencyKind;
    /** How the round trip was timed: from the actual send (closed loop) or the intended one (paced). */
    roundTripMeasuredFrom: 'actual-send' | 'intended-send';
    coordinatedOmissionCorrected: boolean;
    range: typeof HISTOGRAM_RANGE;
    /** TCP connect and upgrade, from the start of the attempt (all in the ramp). */
    connect: LatencySummaryUs;
    /** The headline: round trips of the run phase. */
    roundTrip: LatencySummaryUs;
    phases: { ramp: { roundTrip: LatencySummaryUs }; run: { roundTrip: LatencySummaryUs } };
  };
  /**
   * connectRun_us: handshakes completed during the run (--lifetime, --reconnect); reconnect_us: from a
   * drop to being open again (--reconnect). Absent from older results.
   */
  readonly histograms: { connect_us: string; roundTrip_us: string; roundTripRamp_us: string; connectRun_us?: string; reconnect_us?: string; handshake2_us?: string };
  /** --protocol socketio or graphql-ws: its counts, reasons and second handshake (null for plain WebSocket; absent from older results). */
  readonly protocol?: ProtocolReport | null;
  /** --lifetime: connections turned over during the run (null without it; absent from older results). */
  readonly churn?: ChurnReport | null;
  /** --compress: negotiated or not, per connection, and the bytes compressed (null without it; metrics/compression.ts). */
  readonly compression?: CompressionReport | null;
  /** --reconnect: drops, reconnects, the time back and the storm (null without it). */
  readonly reconnects?: ReconnectReport | null;
  /**
   * One entry per second of the ramp and the run (the last one partial): echoes per second, open
   * connections and that second's round-trip p99. Absent from results written before it existed.
   */
  readonly timeline?: readonly TimelineEntry[];
  readonly generator: GeneratorHealth;
  /**
   * The Node that ran the client processes, and which fast paths on internals they ran after their
   * self-tests (runtime/fast-paths.ts): a path is true only where every process ran it. Absent
   * from results written before it existed.
   */
  readonly runtime?: RuntimeReport;
  readonly environment: Record<string, unknown>;
  /** Absent from results written before it existed: their run start is startedAt + rampMs. */
  readonly clock?: RunClock;
  readonly sync?: RunSync | null;
  /** Set by `merge --allow-partial` when shards were missing: the result does not account for the whole load. */
  readonly partial?: { readonly expected: number; readonly missing: readonly string[] };
}

export type LatencyKind = 'echo' | 'reply' | 'delivery' | 'none';

/**
 * An application protocol's own figures. counts: by kind (socketio: connected, connectErrors, acks,
 * events, pings, serverDisconnects, clientDisconnects, …; graphql-ws: acked, subscribes, next, error,
 * complete, pings, …). reasons: connect_error messages, server disconnects and close codes.
 * handshake: from the upgrade (101) to the protocol's own handshake done (Socket.IO's namespace
 * connected, graphql-ws's connection_ack), histogram handshake2_us.
 */
export interface ProtocolReport {
  readonly name: string;
  readonly counts: Record<string, number>;
  readonly reasons: Record<string, number>;
  readonly handshake: LatencySummaryUs;
}

export interface ResultContext {
  readonly measures: LatencyKind;
  readonly clock: RunClock;
  readonly sync: RunSync | null;
  /** Subscribe with publishers: deliveries expected per published message; undefined otherwise. */
  readonly expectedFanout: number | undefined;
  readonly version: string;
  readonly url: string;
  readonly ownServer: boolean;
  readonly paced: boolean;
  readonly interrupted: boolean;
  readonly missingClientProcesses: readonly number[];
  readonly startedAt: number;
  readonly endedAt: number;
  readonly rampMs: number | null;
  readonly runMs: number | null;
  readonly endReason: EndReason;
  readonly timeline: readonly TimelineEntry[];
  readonly config: Record<string, unknown>;
  readonly plan: BlastResult['plan'];
  readonly environment: Record<string, unknown>;
}

const CPU_BOTTLENECK_PERCENT = 85;
const LOOP_DELAY_BOTTLENECK_MS = 50;
/**
 * A phase shorter than this is judged by its event-loop delay alone. Over a few tens of ms, a
 * process's CPU share is its start-up (first compilations, the end-of-ramp collection), not load:
 * `blast -c 1 -d 0` opened one connection in ~40 ms at "140% CPU" and was called the bottleneck.
 */
const MIN_JUDGED_PHASE_MS = 500;

export function buildBlastResult(snapshots: readonly WorkerSnapshot[], context: ResultContext): BlastResult {
  const counters = snapshots.reduce((total, s) => addBlastCounters(total, s.counters), emptyBlastCounters());
  const connect = mergeEncoded(snapshots.map((s) => s.connectHistogram));
  const rampRoundTrip = mergeEncoded(snapshots.map((s) => s.rampRoundTripHistogram));
  const runRoundTrip = mergeEncoded(snapshots.map((s) => s.runRoundTripHistogram));
  const runSeconds = (context.runMs ?? 0) / 1000;
  // The run's own: not the ramp's (--ramp-traffic), nor the closing drain's (subscribe, fire).
  const runEchoes = counters.messagesReceived - counters.rampMessagesReceived - (counters.drainMessagesReceived ?? 0);
  const runSummary = summarize(runRoundTrip);
  const runConnects = mergeEncoded(snapshots.flatMap((s) => (s.runConnectHistogram ? [s.runConnectHistogram] : [])));
  const reconnectTimes = mergeEncoded(snapshots.flatMap((s) => (s.reconnectHistogram ? [s.reconnectHistogram] : [])));
  const reconnects = reconnectsOf(snapshots, counters, Boolean(context.config.reconnect));
  const protocolName = typeof context.config.protocol === 'string' && context.config.protocol !== 'ws' ? context.config.protocol : undefined;
  const handshake2 = mergeEncoded(snapshots.flatMap((s) => (s.handshake2Histogram ? [s.handshake2Histogram] : [])));
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'wsbench', version: context.version },
    startedAt: new Date(context.startedAt).toISOString(),
    endedAt: new Date(context.endedAt).toISOString(),
    durationMs: context.endedAt - context.startedAt,
    rampMs: context.rampMs,
    runMs: context.runMs,
    endReason: context.endReason,
    interrupted: context.interrupted,
    missingClientProcesses: context.missingClientProcesses,
    target: { url: context.url, ownServer: context.ownServer },
    config: redactHeaders(context.config),
    plan: context.plan,
    outcomes: outcomesOf(counters),
    messages: {
      sent: counters.messagesSent,
      received: counters.messagesReceived,
      receivedDuringRamp: counters.rampMessagesReceived,
      receivedDuringDrain: counters.drainMessagesReceived ?? 0,
      unanswered: counters.unanswered,
      mismatched: counters.mismatched,
      delayedSends: counters.delayedSends,
      bytesSent: counters.bytesSent,
      bytesReceived: counters.bytesReceived,
      perSecond: runSeconds > 0 ? Math.round(runEchoes / runSeconds) : 0,
      bytesPerSecond: runSeconds > 0 && counters.messagesReceived > 0 ? Math.round(((counters.bytesReceived / counters.messagesReceived) * runEchoes) / runSeconds) : 0,
      unmatched: counters.unmatched,
      duplicates: counters.duplicates,
      subscribed: counters.subscribed,
      delivered: counters.delivered,
      completed: counters.completed,
      onMatched: counters.onMatched,
      onSent: counters.onSent,
    },
    fanout: fanoutOf(counters, context.expectedFanout),
    latency: {
      measures: context.measures,
      roundTripMeasuredFrom: context.paced ? 'intended-send' : 'actual-send',
      coordinatedOmissionCorrected: context.paced,
      range: HISTOGRAM_RANGE,
      connect: summarize(connect),
      roundTrip: runSummary,
      phases: { ramp: { roundTrip: summarize(rampRoundTrip) }, run: { roundTrip: runSummary } },
    },
    histograms: {
      connect_us: encodeHistogram(connect),
      roundTrip_us: encodeHistogram(runRoundTrip),
      roundTripRamp_us: encodeHistogram(rampRoundTrip),
      connectRun_us: encodeHistogram(runConnects),
      ...(reconnects ? { reconnect_us: encodeHistogram(reconnectTimes) } : {}),
      ...(protocolName ? { handshake2_us: encodeHistogram(handshake2) } : {}),
    },
    protocol: protocolName ? { name: protocolName, counts: { ...counters.protocol }, reasons: { ...counters.protocolReasons }, handshake: summarize(handshake2) } : null,
    churn: churnOf(counters, { lifetimeMs: context.config.lifetimeMs as number | null | undefined, lifetimeJitter: context.config.lifetimeJitter as number | null | undefined }, runConnects.totalCount, context.runMs),
    reconnects,
    compression: compressionOf(counters, context.config.compression as DeflateOffer | undefined | null),
    timeline: context.timeline,
    generator: generatorHealth(snapshots),
    runtime: runtimeReport(snapshots.flatMap((s) => (s.fastPaths ? [s.fastPaths] : []))),
    environment: context.environment,
    clock: context.clock,
    sync: context.sync,
  };
}


function fanoutOf(counters: BlastCounters, expectedFanout: number | undefined): BlastResult['fanout'] {
  if (expectedFanout === undefined) return null;
  const published = counters.messagesSent;
  const expected = expectedFanout;
  return {
    published,
    delivered: counters.delivered,
    expected,
    observed: published > 0 ? Math.round((counters.delivered / published) * 1000) / 1000 : 0,
    missed: Math.max(0, expected * published - counters.delivered),
  };
}

export function outcomesOf(counters: BlastCounters): BlastResult['outcomes'] {
  const generatorLimits: Record<string, number> = {};
  for (const [reason, count] of Object.entries(counters.failed)) if (reason in GENERATOR_LIMIT_REASONS) generatorLimits[reason] = count;
  return {
    attempted: counters.attempted,
    accepted: counters.accepted,
    rejected: { total: sum(counters.rejected), byStatus: { ...counters.rejected } },
    failed: { total: sum(counters.failed), byReason: { ...counters.failed }, generatorLimits, timeoutsWhileClientStalled: counters.timeoutsWhileStalled },
    dropped: { total: sum(counters.dropped), byCloseCode: { ...counters.dropped } },
    addressRetries: counters.addressRetries,
    handshakesInFlightLowest: counters.handshakeWindowLowest,
  };
}

function summarizePhase(phase: PhaseHealth): PhaseHealthSummary {
  const tenth = (value: number) => Math.round(value * 10) / 10;
  return {
    cpuPercent: tenth((phase.cpuUs / Math.max(1, phase.wallMs * 1000)) * 100),
    eventLoopDelayP99Ms: tenth(phase.eventLoopDelayP99Ms),
    eventLoopDelayMaxMs: tenth(phase.eventLoopDelayMaxMs),
  };
}

export function generatorHealth(snapshots: readonly Pick<WorkerSnapshot, 'index' | 'ramp' | 'run'>[]): GeneratorHealth {
  const workers = snapshots.map((s): WorkerHealth => {
    const main = s.run && s.run.wallMs >= MIN_JUDGED_PHASE_MS ? s.run : s.ramp;
    const summary = summarizePhase(main);
    return {
      index: s.index,
      phase: main === s.ramp ? 'ramp' : 'run',
      ...summary,
      ramp: summarizePhase(s.ramp),
      busy: (main.wallMs >= MIN_JUDGED_PHASE_MS && summary.cpuPercent >= CPU_BOTTLENECK_PERCENT) || summary.eventLoopDelayP99Ms >= LOOP_DELAY_BOTTLENECK_MS,
    };
  });
  return {
    workers,
    bottleneck: workers.some((w) => w.busy),
    busyCpuPercent: CPU_BOTTLENECK_PERCENT,
    busyEventLoopDelayP99Ms: LOOP_DELAY_BOTTLENECK_MS,
  };
}
