/**
 * The result of a blast run: what `--json` prints, what results/ files hold, and what the API
 * returns. Built from worker snapshots by summing counters and adding histograms.
 */
import { addBlastCounters, emptyBlastCounters, GENERATOR_LIMIT_REASONS, sum, type BlastCounters } from './blast-counters.js';
import { createHistogram, encodeHistogram, HISTOGRAM_RANGE, mergeEncoded, summarize, type LatencySummaryUs } from './histogram.js';
import { redactHeaders } from '../config/redact-headers.js';
import type { PhaseHealth, WorkerSnapshot } from '../blast/load-generator.js';

export const SCHEMA_VERSION = 2;

export type EndReason = 'duration' | 'messages' | 'idle' | 'interrupted' | 'client-process-lost';

export interface PhaseHealthSummary {
  cpuPercent: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

export interface GeneratorHealth {
  /** Per client process: its load while holding connections (or, without a hold, while opening them). */
  readonly workers: readonly ({ index: number; phase: 'hold' | 'ramp'; ramp: PhaseHealthSummary } & PhaseHealthSummary)[];
  /** True when a client process was busy enough that it, not the server, may have set the numbers. */
  readonly bottleneck: boolean;
  readonly warnings: readonly string[];
}

export interface BlastResult {
  readonly schemaVersion: number;
  readonly tool: { name: 'wsbench'; version: string };
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  /** From the first connection attempt until every attempt had its outcome (null if the ramp never finished). */
  readonly rampMs: number | null;
  /** Length of the run phase (after the ramp); null if the ramp never finished. */
  readonly runMs: number | null;
  /** Why the run ended; 'idle': every connection ended before --duration (server gone, or all refused). */
  readonly endReason: EndReason;
  readonly interrupted: boolean;
  /** Client processes that ended without reporting: their connections are missing from the counts. */
  readonly missingClientProcesses: readonly number[];
  readonly target: { url: string; ownServer: boolean };
  readonly config: Record<string, unknown>;
  readonly plan: { workers: number; connectionsPerWorker: number[]; sourceMode: string; sourceAddresses: readonly string[] };
  readonly outcomes: {
    attempted: number;
    accepted: number;
    rejected: { total: number; byStatus: Record<string, number> };
    failed: { total: number; byReason: Record<string, number>; generatorLimits: Record<string, number> };
    dropped: { total: number; byCloseCode: Record<string, number> };
    addressRetries: number;
  };
  readonly messages: {
    sent: number;
    received: number;
    unanswered: number;
    mismatched: number;
    delayedSends: number;
    bytesSent: number;
    bytesReceived: number;
    perSecond: number;
    bytesPerSecond: number;
    windowMs: number;
  };
  readonly latency: {
    /** How the round trip was timed: from the actual send (closed loop) or the intended one (paced). */
    roundTripMeasuredFrom: 'actual-send' | 'intended-send';
    coordinatedOmissionCorrected: boolean;
    range: typeof HISTOGRAM_RANGE;
    connect: LatencySummaryUs;
    roundTrip: LatencySummaryUs;
    phases: { ramp: { roundTrip: LatencySummaryUs }; run: { roundTrip: LatencySummaryUs } };
  };
  readonly histograms: { connect_us: string; roundTrip_us: string; roundTripRamp_us: string };
  readonly generator: GeneratorHealth;
  readonly environment: Record<string, unknown>;
}

export interface ResultContext {
  readonly version: string;
  readonly url: string;
  readonly ownServer: boolean;
  readonly paced: boolean;
  readonly interrupted: boolean;
  readonly missingClientProcesses: readonly number[];
  readonly startedAt: number;
  readonly endedAt: number;
  readonly rampMs: number | null;
  readonly config: Record<string, unknown>;
  readonly plan: BlastResult['plan'];
  readonly environment: Record<string, unknown>;
  readonly warnings: readonly string[];
}

const CPU_BOTTLENECK_PERCENT = 85;
const LOOP_DELAY_BOTTLENECK_MS = 50;

export function buildBlastResult(snapshots: readonly WorkerSnapshot[], context: ResultContext): BlastResult {
  const counters = snapshots.reduce((total, s) => addBlastCounters(total, s.counters), emptyBlastCounters());
  const connect = mergeEncoded(snapshots.map((s) => s.connectHistogram));
  const roundTrip = mergeEncoded(snapshots.map((s) => s.roundTripHistogram));
  const echoes = snapshots.filter((s) => s.firstEchoAt > 0);
  const windowMs = echoes.length ? Math.max(...echoes.map((s) => s.lastEchoAt)) - Math.min(...echoes.map((s) => s.firstEchoAt)) : 0;
  const perSecond = windowMs > 0 ? (counters.messagesReceived * 1000) / windowMs : 0;
  const health = generatorHealth(snapshots, counters, context.warnings);
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'wsbench', version: context.version },
    startedAt: new Date(context.startedAt).toISOString(),
    endedAt: new Date(context.endedAt).toISOString(),
    durationMs: context.endedAt - context.startedAt,
    rampMs: context.rampMs,
    ...endOfRunStandIn(context, counters),
    interrupted: context.interrupted,
    missingClientProcesses: context.missingClientProcesses,
    target: { url: context.url, ownServer: context.ownServer },
    config: redactHeaders(context.config),
    plan: context.plan,
    outcomes: outcomesOf(counters),
    messages: {
      sent: counters.messagesSent,
      received: counters.messagesReceived,
      unanswered: counters.unanswered,
      mismatched: counters.mismatched,
      delayedSends: counters.delayedSends,
      bytesSent: counters.bytesSent,
      bytesReceived: counters.bytesReceived,
      perSecond: Math.round(perSecond),
      bytesPerSecond: windowMs > 0 ? Math.round((counters.bytesReceived * 1000) / windowMs) : 0,
      windowMs: Math.round(windowMs),
    },
    latency: {
      roundTripMeasuredFrom: context.paced ? 'intended-send' : 'actual-send',
      coordinatedOmissionCorrected: context.paced,
      range: HISTOGRAM_RANGE,
      connect: summarize(connect),
      roundTrip: summarize(roundTrip),
      // main provides the real value: the ramp's round trips apart from the run's.
      phases: { ramp: { roundTrip: summarize(createHistogram()) }, run: { roundTrip: summarize(roundTrip) } },
    },
    // main provides the real value of roundTripRamp_us.
    histograms: { connect_us: encodeHistogram(connect), roundTrip_us: encodeHistogram(roundTrip), roundTripRamp_us: encodeHistogram(createHistogram()) },
    generator: health,
    environment: context.environment,
  };
}

/** main provides the real values (from the coordinator, which knows why it ended); derived from times here. */
function endOfRunStandIn(context: ResultContext, counters: BlastCounters): { runMs: number | null; endReason: EndReason } {
  const runMs = context.rampMs === null ? null : context.endedAt - context.startedAt - context.rampMs;
  const endReason: EndReason = context.interrupted
    ? 'interrupted'
    : context.missingClientProcesses.length
      ? 'client-process-lost'
      : runMs !== null && runMs >= Number(context.config.durationMs)
        ? 'duration'
        : context.config.messages != null && counters.unanswered === 0 && counters.messagesReceived > 0
          ? 'messages'
          : 'idle';
  return { runMs, endReason };
}

export function outcomesOf(counters: BlastCounters): BlastResult['outcomes'] {
  const generatorLimits: Record<string, number> = {};
  for (const [reason, count] of Object.entries(counters.failed)) if (reason in GENERATOR_LIMIT_REASONS) generatorLimits[reason] = count;
  return {
    attempted: counters.attempted,
    accepted: counters.accepted,
    rejected: { total: sum(counters.rejected), byStatus: { ...counters.rejected } },
    failed: { total: sum(counters.failed), byReason: { ...counters.failed }, generatorLimits },
    dropped: { total: sum(counters.dropped), byCloseCode: { ...counters.dropped } },
    addressRetries: counters.addressRetries,
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

function generatorHealth(snapshots: readonly WorkerSnapshot[], counters: BlastCounters, extra: readonly string[]): GeneratorHealth {
  const warnings = [...extra];
  const workers = snapshots.map((s) => {
    const main = s.hold && s.hold.wallMs >= 500 ? s.hold : s.ramp;
    return { index: s.index, phase: main === s.ramp ? ('ramp' as const) : ('hold' as const), ...summarizePhase(main), ramp: summarizePhase(s.ramp) };
  });
  const busy = workers.filter((w) => w.cpuPercent >= CPU_BOTTLENECK_PERCENT || w.eventLoopDelayP99Ms >= LOOP_DELAY_BOTTLENECK_MS);
  for (const w of busy) {
    warnings.push(
      `client process ${w.index} ran at ${w.cpuPercent}% CPU with event-loop delay p99 ${w.eventLoopDelayP99Ms} ms ` +
        `while ${w.phase === 'hold' ? 'holding connections' : 'opening connections'}: ` +
        'wsbench itself may be the bottleneck; add --workers or lower the load',
    );
  }
  for (const [reason, count] of Object.entries(counters.failed)) {
    const limit = GENERATOR_LIMIT_REASONS[reason];
    if (limit) warnings.push(`${count} connections failed with ${reason}: ${limit}, a limit of the generator, not the server`);
  }
  if (counters.mismatched > 0) warnings.push(`${counters.mismatched} echoes did not match what was sent`);
  return { workers, bottleneck: busy.length > 0, warnings };
}
