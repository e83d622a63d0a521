/**
 * The run second by second: echoes per second, open connections and the p99 of that second's round
 * trips. Each client process sends one IntervalSample per second of its own clock (with its counters
 * tick) and one for the last, partial, second at the end; the coordinator folds them into one
 * TimelineEntry per second. Only that second's samples are in a sample's histogram, so the p99 is
 * the second's own, computed from the merged histograms (never from per-process percentiles).
 *
 * Memory stays bounded: a second's histograms are merged, its p99 kept and the histograms dropped
 * as soon as every client process still alive has reported that second.
 */
import { mergeEncoded } from './histogram.js';

/** What one client process measured over one second of its clock (the last one may be shorter). */
export interface IntervalSample {
  /** 0 for the first second after the process started its ramp, 1 for the next, … */
  readonly second: number;
  /** How long the interval really was (timers drift; the last one is partial). */
  readonly elapsedMs: number;
  /** Echoes received in the interval. */
  readonly received: number;
  /** Connections open at its end. */
  readonly open: number;
  /** Round trips completed in the interval, as a compressed base64 HDR histogram (µs). */
  readonly roundTrips: string;
  /** The phase at the end of the interval. */
  readonly phase: 'ramp' | 'run';
  /** Handshakes completed in the interval (µs), for live /metrics; absent from older processes. */
  readonly connects?: string;
  /** The process's CPU time over the interval's wall time (1 = one core), and its event-loop delay p99. */
  readonly cpuRatio?: number;
  readonly loopDelayP99Ms?: number;
}

/** One second of the run, in the result's `timeline`. */
export interface TimelineEntry {
  /** Start of the second, in seconds since the client processes started (the entry covers [t_s, t_s + 1)). */
  readonly t_s: number;
  /** Connections open at the end of the second, over all client processes. */
  readonly open: number;
  /** Echoes received in that second, per second (the last, partial, second is scaled by its length). */
  readonly messagesPerSecond: number;
  /** p99 of the round trips completed in that second, µs; null when none completed. */
  readonly rttP99_us: number | null;
  /** 'run' when any client process was in the run at the end of that second. */
  readonly phase: 'ramp' | 'run';
}

interface PendingSecond {
  readonly reporters: Set<number>;
  open: number;
  messagesPerSecond: number;
  phase: 'ramp' | 'run';
  readonly histograms: string[];
}

export class TimelineBuilder {
  readonly #pending = new Map<number, PendingSecond>();
  readonly #done: TimelineEntry[] = [];

  /** Add one client process's sample for its second `sample.second`. */
  add(processIndex: number, sample: IntervalSample): void {
    let pending = this.#pending.get(sample.second);
    if (!pending) {
      pending = { reporters: new Set(), open: 0, messagesPerSecond: 0, phase: 'ramp', histograms: [] };
      this.#pending.set(sample.second, pending);
    }
    pending.reporters.add(processIndex);
    pending.open += sample.open;
    pending.messagesPerSecond += sample.elapsedMs > 0 ? (sample.received * 1000) / sample.elapsedMs : 0;
    if (sample.phase === 'run') pending.phase = 'run';
    pending.histograms.push(sample.roundTrips);
  }

  /** Close every second that each of `liveProcesses` has reported: merge it and drop its histograms. */
  settle(liveProcesses: readonly number[]): void {
    for (const [second, pending] of this.#pending) {
      if (liveProcesses.every((index) => pending.reporters.has(index))) this.#close(second, pending);
    }
  }

  /** Every second, in order; seconds still open are closed with what they have. */
  finish(): TimelineEntry[] {
    for (const [second, pending] of this.#pending) this.#close(second, pending);
    return [...this.#done].sort((a, b) => a.t_s - b.t_s);
  }

  #close(second: number, pending: PendingSecond): void {
    this.#pending.delete(second);
    const merged = mergeEncoded(pending.histograms);
    this.#done.push({
      t_s: second,
      open: pending.open,
      messagesPerSecond: Math.round(pending.messagesPerSecond),
      rttP99_us: merged.totalCount === 0 ? null : merged.getValueAtPercentile(99),
      phase: pending.phase,
    });
  }
}

/**
 * Shards ran side by side, each timed from its own start: per second, open connections and rates
 * add up. Their histograms are not in the result, so the merged p99 is the largest of the shards'
 * p99s: an upper bound of the true one (at least 99% of each shard's samples are at or below it).
 */
export function mergeTimelines(timelines: readonly (readonly TimelineEntry[] | undefined)[]): TimelineEntry[] {
  const bySecond = new Map<number, TimelineEntry>();
  for (const timeline of timelines) {
    for (const entry of timeline ?? []) {
      const seen = bySecond.get(entry.t_s);
      bySecond.set(
        entry.t_s,
        seen === undefined
          ? entry
          : {
              t_s: entry.t_s,
              open: seen.open + entry.open,
              messagesPerSecond: seen.messagesPerSecond + entry.messagesPerSecond,
              rttP99_us: seen.rttP99_us === null ? entry.rttP99_us : entry.rttP99_us === null ? seen.rttP99_us : Math.max(seen.rttP99_us, entry.rttP99_us),
              phase: seen.phase === 'run' || entry.phase === 'run' ? 'run' : 'ramp',
            },
      );
    }
  }
  return [...bySecond.values()].sort((a, b) => a.t_s - b.t_s);
}
