/**
 * What one blast client process reports at the end of a run: its counters, its histograms (as
 * compressed snapshots), its phase times and its own load. The coordinator merges these.
 */
import type { FastPathVerdicts } from '../runtime/fast-paths.js';
import type { BlastCounters } from './blast-counters.js';
import type { IntervalSample } from './timeline.js';

/** A client process's own load over one phase. */
export interface PhaseHealth {
  readonly wallMs: number;
  readonly cpuUs: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

export interface WorkerSnapshot {
  readonly index: number;
  readonly counters: BlastCounters;
  readonly connectHistogram: string;
  /** Round trips completed during the ramp (only with --ramp-traffic) and during the run. */
  readonly rampRoundTripHistogram: string;
  readonly runRoundTripHistogram: string;
  /** When this process's ramp began and its run ended (ms since the epoch). */
  readonly startedAt: number;
  readonly endedAt: number;
  /** The process's own load while opening connections, and during the run (null: no run). */
  readonly ramp: PhaseHealth;
  readonly run: PhaseHealth | null;
  /** The timeline's last, partial, second: from the last tick to the end of the run. */
  readonly lastInterval: IntervalSample;
  /** Which fast paths this process ran (runtime/fast-paths.ts); absent where no self-test ran. */
  readonly fastPaths?: FastPathVerdicts;
}
