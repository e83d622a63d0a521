/** How many server processes `--max` needs, given the per-process open-file limit. */
import { ConfigError } from '../config/errors.js';
import { connectionsPerProcess, cores, FD_RESERVE, readFdLimit } from './fd-budget.js';

/**
 * Descriptors an in-process server keeps free beyond --max: upgrades it is refusing at the same
 * moment (blast keeps at most 1000 handshakes in flight by default).
 */
export const IN_PROCESS_SPARE_FDS = 4096;
/** Descriptors of the listening socket per server process: connections it may accept per poll. */
export const LISTENERS_PER_PROCESS = 64;
/** Descriptors a worker keeps for itself (stdio, IPC, epoll, timers) beyond sockets and listeners. */
const WORKER_FD_OVERHEAD = 64;

export interface ServePlan {
  readonly workers: number;
  /** The most connections one worker may hold (its fd limit less the reserve). */
  readonly perWorkerCapacity: number;
  /**
   * Sockets one worker may have open at once (held, upgrading or being refused) before it stops
   * accepting: its open-file limit less its own descriptors, its listeners, and one more poll's
   * worth of accepts. At least perWorkerCapacity, so a worker pauses before admission ever has to
   * refuse it a slot the cap still has.
   */
  readonly socketBudgetPerWorker: number;
  readonly fdLimit: number;
  readonly minimumWorkers: number;
  /**
   * One worker and a cap well below its open-file limit: the server runs in this process. Near the
   * limit a burst of refusals could need more descriptors than are left, so a primary owns the
   * listener and hands the worker only as many sockets as it can hold.
   */
  readonly inProcess: boolean;
}

export function planServe(max: number, requestedWorkers: number | undefined, fdLimit = readFdLimit(), coreCount = cores()): ServePlan {
  const perWorkerCapacity = connectionsPerProcess(fdLimit);
  const minimumWorkers = Math.ceil(max / perWorkerCapacity);
  if (requestedWorkers !== undefined && requestedWorkers < minimumWorkers) {
    throw new ConfigError(
      '--workers',
      requestedWorkers,
      `--max ${max} needs at least ${minimumWorkers} worker processes: each may hold ${perWorkerCapacity} ` +
        `connections (open-file limit ${fdLimit} less ${FD_RESERVE} kept in reserve)`,
    );
  }
  const workers = requestedWorkers ?? Math.max(minimumWorkers, coreCount);
  const inProcess = workers === 1 && max + IN_PROCESS_SPARE_FDS <= fdLimit;
  const socketBudgetPerWorker = Math.max(perWorkerCapacity, fdLimit - WORKER_FD_OVERHEAD - 2 * LISTENERS_PER_PROCESS);
  return { workers, perWorkerCapacity, socketBudgetPerWorker, fdLimit, minimumWorkers, inProcess };
}
