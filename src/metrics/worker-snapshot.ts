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
  /** Handshakes completed during the run (--lifetime replacements, --reconnect), µs. Absent from older processes. */
  readonly runConnectHistogram?: string;
  /** --reconnect: from a drop to the connection being open again, µs. */
  readonly reconnectHistogram?: string;
  /** --reconnect: drops by the wall-clock second they happened in, and how those came back. */
  readonly dropSeconds?: readonly DropSecond[];
  /** --protocol socketio, graphql-ws: from the upgrade to the protocol's own handshake done (namespace connect, connection_ack), µs. */
  readonly handshake2Histogram?: string;
  /** Which fast paths this process ran (runtime/fast-paths.ts); absent where no self-test ran. */
  readonly fastPaths?: FastPathVerdicts;
}

/** The connections dropped in one wall-clock second (Unix seconds), and their way back (--reconnect). */
export interface DropSecond {
  readonly second: number;
  readonly dropped: number;
  /** When the first of them dropped (ms since the epoch); absent: the second's start. */
  readonly firstDropAt?: number;
  readonly back: number;
  /** When the last of them was back (ms since the epoch); 0 if none is. */
  readonly lastBackAt: number;
  /** From drop to back, µs, of those back. */
  readonly backHistogram: string;
}
