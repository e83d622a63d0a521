/** The typed messages between the blast coordinator and its client processes. */
import type { LoadGeneratorOptions } from '../blast/load-generator.js';
import type { BlastCounters } from '../metrics/blast-counters.js';
import type { WorkerSnapshot } from '../metrics/worker-snapshot.js';

export type CoordinatorToBlastWorker =
  | { t: 'start'; options: Omit<LoadGeneratorOptions, 'payload'> & { payloadBase64: string } }
  /** Every process has finished its ramp: the run begins. */
  | { t: 'run' }
  /** End the run: stop sending, close connections, send the final snapshot. */
  | { t: 'stop' };

export type BlastWorkerToCoordinator =
  | { t: 'tick'; counters: BlastCounters; rampDone: boolean; idle: boolean; messagesDone: boolean }
  | { t: 'final'; snapshot: WorkerSnapshot };
