/**
 * `wsbench find`: the largest load a server holds while every --until threshold does. One blast
 * run, driven step by step (coordinator's RunControl): each step moves the load (opening only the
 * difference to the connections already open, or closing the newest), lets every attempt be
 * answered, holds for --step-duration, and is judged on its own figures: the hold's round trips
 * and messages, the step's own connection outcomes (refused and failed against the load it asked
 * for), and each client process's load. The search itself is search.ts.
 */
import { blast, type RunControl } from '../blast/coordinator.js';
import type { BlastConfig } from '../config/blast-config.js';
import { evaluate, type GateInput, type ThresholdOutcome } from '../gate/evaluate.js';
import type { Threshold } from '../gate/thresholds.js';
import { addBlastCounters, emptyBlastCounters, sum, type BlastCounters } from '../metrics/blast-counters.js';
import type { BlastResult } from '../metrics/blast-result.js';
import { createHistogram, decodeHistogram, encodeHistogram, summarize, type LatencySummaryUs } from '../metrics/histogram.js';
import type { IntervalSample } from '../metrics/timeline.js';
import { anySignal, sleep } from '../runtime/abort.js';
import { searchCapacity, type SearchOptions, type SearchOutcome, type StepVerdict } from './search.js';

/** A client process busier than this (CPU share of a core, or event-loop delay p99) limits the step. */
export const GENERATOR_BUSY = { cpuRatio: 0.85, loopDelayP99Ms: 50 } as const;
/** After a step's attempts are answered, before its hold. */
const SETTLE_MS = 1000;

export type FindDimension = 'connections' | 'rate';

export interface FindOptions extends SearchOptions {
  readonly dimension: FindDimension;
  /** rate search: the connections held throughout; connections search: messages per second per connection. */
  readonly connections: number;
  readonly rate: number;
  readonly until: readonly Threshold[];
  readonly stepDurationMs: number;
}

export interface FindStep {
  readonly index: number;
  readonly load: number;
  readonly verdict: StepVerdict;
  readonly startedAt: string;
  readonly holdMs: number;
  readonly connections: { asked: number; open: number; refused: number; failed: number; dropped: number };
  readonly messagesPerSecond: number;
  readonly latency: { roundTrip: LatencySummaryUs; connect: LatencySummaryUs };
  readonly histograms: { roundTrip_us: string; connect_us: string };
  readonly generator: { busy: boolean; processes: { index: number; cpuRatio: number; loopDelayP99Ms: number }[] };
  readonly until: ThresholdOutcome[];
}

export interface FindResult {
  readonly kind: 'find';
  readonly schemaVersion: 1;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly target: BlastResult['target'];
  readonly search: {
    dimension: FindDimension;
    from: number;
    to: number;
    growth: number;
    precision: number;
    stepDurationMs: number;
    connections: number | null;
    rate: number | null;
    until: string[];
  };
  readonly steps: FindStep[];
  /**
   * count: the largest load that held (connections, or messages per second per connection).
   * endedBecause: with stoppedBy 'run-ended', why the run ended by itself (its endReason, or an error).
   */
  readonly capacity: { count: number | null; firstFailed: number | null; stoppedBy: SearchOutcome['stoppedBy']; limitedAt: number | null; endedBecause?: string };
  /** The whole run, every step together, as blast reports it (mergeable with wsbench merge). */
  readonly run: BlastResult;
}

export interface FindRunOptions {
  readonly signal?: AbortSignal;
  readonly command?: readonly string[];
  readonly onStep?: (step: FindStep) => void;
  readonly onStepStart?: (index: number, load: number) => void;
}

export async function find(config: BlastConfig, options: FindOptions, run: FindRunOptions = {}): Promise<FindResult> {
  const steps: FindStep[] = [];
  let outcome: SearchOutcome | undefined;
  let failure: string | undefined;
  let searching: Promise<void> | undefined;
  const startedAt = new Date().toISOString();
  const result = await blast(config, {
    signal: run.signal,
    command: run.command,
    startConnections: options.dimension === 'connections' ? Math.min(options.from, options.to) : options.connections,
    control: (control) => (searching = search(control)),
  });
  /** The search, step by step, inside the run (blast calls it once the first ramp is done). */
  async function search(control: RunControl): Promise<void> {
    const stop = anySignal(run.signal, control.ended);
    try {
      outcome = await searchCapacity(options, async (load) => {
        if (run.signal?.aborted || control.ended.aborted) return undefined;
        run.onStepStart?.(steps.length + 1, load);
        const step = await runStep(control, steps.length + 1, load, options, config, stop);
        if (!step) return undefined;
        steps.push(step);
        run.onStep?.(step);
        return step.verdict;
      });
    } catch (error) {
      failure = (error as Error).message;
    }
  }
  // blast returns once its processes have reported; a run that ended by itself may leave the
  // search finishing its last step (which sees the end, and stops).
  await searching;
  // The run ended without the user asking (every connection gone, a process lost, an error):
  // the search has no answer, whatever the steps so far said.
  const userStopped = run.signal?.aborted ?? false;
  const endedByItself = failure !== undefined || ((outcome === undefined || outcome.stoppedBy === 'interrupted') && !userStopped);
  return {
    kind: 'find',
    schemaVersion: 1,
    startedAt,
    endedAt: new Date().toISOString(),
    target: result.target,
    search: {
      dimension: options.dimension,
      from: options.from,
      to: options.to,
      growth: options.growth,
      precision: options.precision,
      stepDurationMs: options.stepDurationMs,
      connections: options.dimension === 'rate' ? options.connections : null,
      rate: options.dimension === 'connections' ? options.rate : null,
      until: options.until.map((t) => t.expression),
    },
    steps,
    capacity: {
      count: outcome?.held ?? null,
      firstFailed: outcome?.failed ?? null,
      stoppedBy: endedByItself ? 'run-ended' : (outcome?.stoppedBy ?? 'interrupted'),
      limitedAt: outcome?.limitedAt ?? null,
      ...(endedByItself ? { endedBecause: failure ?? `endReason ${result.endReason}` } : {}),
    },
    run: result,
  };
}


/** One step: move the load, let every attempt be answered, hold, judge. undefined when the run ended meanwhile. */
async function runStep(control: RunControl, index: number, load: number, options: FindOptions, config: BlastConfig, stop: AbortSignal): Promise<FindStep | undefined> {
  const stepStartedAt = Date.now();
  const before = structuredClone(control.counters());
  const samples: { processIndex: number; sample: IntervalSample; at: number }[] = [];
  const unsubscribe = control.onInterval((processIndex, sample) => samples.push({ processIndex, sample, at: Date.now() }));
  const asked = options.dimension === 'connections' ? load : options.connections;
  control.target(asked, options.dimension === 'rate' ? load : undefined);
  await control.settled();
  // A second to settle: the step's own ramp (its garbage collected at its end, its new connections'
  // first messages) is not what the hold judges.
  await sleep(SETTLE_MS, stop);
  const holdStartedAt = Date.now();
  await sleep(options.stepDurationMs, stop);
  const holdEndedAt = Date.now();
  unsubscribe();
  if (stop.aborted) return undefined;
  const after = structuredClone(control.counters());
  // The hold's own seconds: samples that began after the hold did (each covers the second before it arrived).
  let hold = samples.filter((s) => s.at - s.sample.elapsedMs >= holdStartedAt - 50 && s.at <= holdEndedAt + 50);
  if (hold.length === 0) hold = samples.filter((s) => s.at >= holdStartedAt);
  const roundTrips = createHistogram();
  for (const s of hold) roundTrips.add(decodeHistogram(s.sample.roundTrips));
  const connects = createHistogram();
  for (const s of samples) if (s.sample.connects) connects.add(decodeHistogram(s.sample.connects));
  const heldMs = hold.length ? hold.reduce((n, s) => n + s.sample.elapsedMs, 0) / control.processes : 0;
  const received = hold.reduce((n, s) => n + s.sample.received, 0);
  const delta = difference(after, before);
  // Each process's median second of the hold: one slow second (a collection) does not make it busy.
  const bySecond = new Map<number, IntervalSample[]>();
  for (const { processIndex, sample } of hold) bySecond.set(processIndex, [...(bySecond.get(processIndex) ?? []), sample]);
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0;
  const processes = new Map<number, { index: number; cpuRatio: number; loopDelayP99Ms: number }>();
  for (const [processIndex, seconds] of bySecond) {
    processes.set(processIndex, { index: processIndex, cpuRatio: median(seconds.map((x) => x.cpuRatio ?? 0)), loopDelayP99Ms: median(seconds.map((x) => x.loopDelayP99Ms ?? 0)) });
  }
  const busy = [...processes.values()].some((p) => p.cpuRatio >= GENERATOR_BUSY.cpuRatio || p.loopDelayP99Ms >= GENERATOR_BUSY.loopDelayP99Ms);
  const refused = sum(delta.rejected);
  const failed = sum(delta.failed);
  const dropped = sum(delta.dropped);
  const held = Math.min(asked, after.open);
  // The step as a result the threshold grammar reads: its connection outcomes against the load it
  // asked for (connections open from earlier steps count as accepted), its hold's messages and latency.
  const stepResult: GateInput = {
    outcomes: {
      attempted: asked,
      // What the step holds at its end: a connection refused, failed, dropped or never attempted is not held.
      accepted: held,
      rejected: { total: refused, byStatus: delta.rejected },
      // A step asks whether its load is held: an attempt refused is as much a failure as one that failed,
      // and so is a connection dropped during the step or one no process could open.
      failed: {
        total: asked - held,
        byReason: {
          ...delta.failed,
          ...Object.fromEntries(Object.entries(delta.rejected).map(([status, n]) => [`http-${status}`, n])),
          ...(asked - held - refused - failed > 0 ? { 'not-held': asked - held - refused - failed } : {}),
        },
        generatorLimits: {},
        timeoutsWhileClientStalled: 0,
      },
      dropped: { total: dropped, byCloseCode: delta.dropped },
      addressRetries: 0,
    },
    messages: {
      sent: delta.messagesSent,
      received: delta.messagesReceived,
      receivedDuringRamp: 0,
      unanswered: 0,
      mismatched: delta.mismatched,
      delayedSends: delta.delayedSends,
      bytesSent: delta.bytesSent,
      bytesReceived: delta.bytesReceived,
      perSecond: heldMs > 0 ? Math.round((received * 1000) / heldMs) : 0,
      bytesPerSecond: 0,
      unmatched: delta.unmatched,
      duplicates: delta.duplicates,
      subscribed: 0,
      delivered: delta.delivered,
      completed: 0,
    },
    histograms: { connect_us: encodeHistogram(connects), roundTrip_us: encodeHistogram(roundTrips), roundTripRamp_us: encodeHistogram(createHistogram()) },
    runMs: Math.round(heldMs),
    latency: { measures: config.pattern === 'subscribe' ? 'delivery' : config.pattern === 'fire' && !config.flood ? 'none' : config.pattern === 'echo' ? 'echo' : 'reply' },
  };
  const until = evaluate(stepResult, options.until);
  const verdict: StepVerdict = busy ? 'generator-limited' : until.every((t) => t.ok) ? 'held' : 'failed';
  return {
    index,
    load,
    verdict,
    startedAt: new Date(stepStartedAt).toISOString(),
    holdMs: holdEndedAt - holdStartedAt,
    connections: { asked, open: after.open, refused, failed, dropped },
    messagesPerSecond: stepResult.messages.perSecond,
    latency: { roundTrip: summarize(roundTrips), connect: summarize(connects) },
    histograms: { roundTrip_us: stepResult.histograms.roundTrip_us, connect_us: stepResult.histograms.connect_us },
    generator: { busy, processes: [...processes.values()].sort((a, b) => a.index - b.index) },
    until,
  };
}

/** after - before, counter by counter (the breakdowns too). */
function difference(after: BlastCounters, before: BlastCounters): BlastCounters {
  const negated = emptyBlastCounters();
  for (const [key, value] of Object.entries(before) as [keyof BlastCounters, unknown][]) {
    if (typeof value === 'number') (negated as unknown as Record<string, number>)[key] = -value;
    else (negated as unknown as Record<string, Record<string, number>>)[key] = Object.fromEntries(Object.entries(value as Record<string, number>).map(([k, v]) => [k, -v]));
  }
  const delta = addBlastCounters(addBlastCounters(emptyBlastCounters(), after), negated);
  for (const key of ['rejected', 'failed', 'dropped'] as const) {
    delta[key] = Object.fromEntries(Object.entries(delta[key]).filter(([, v]) => v !== 0));
  }
  return delta;
}

