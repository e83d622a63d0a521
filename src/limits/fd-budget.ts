/**
 * How many sockets one process may hold. The open-file limit is per process (20000 on the machines
 * this was built on, and it cannot be raised), so both serve and blast size their worker processes
 * from it, and refuse plans that cannot fit, with the numbers.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * File descriptors each process keeps for itself: stdio, the IPC channel, epoll, timers, and, for a
 * server, the sockets it must still accept at the cap to answer them 503 instead of leaving them
 * hanging in the accept queue (what a server that spends every fd on connections does).
 */
export const FD_RESERVE = 512;

/** The soft open-file limit of this process, read at start (`/proc/self/limits` on Linux). */
export function readFdLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const parsed = soft === 'unlimited' ? 1_048_576 : Number(soft);
    if (Number.isInteger(parsed) && parsed > 0) return parsed;
  } catch {
    // Not Linux: fall through to the conservative default below.
  }
  return 1024;
}

/** Connections one process may hold with its reserve kept back. */
export function connectionsPerProcess(fdLimit = readFdLimit()): number {
  return Math.max(1, fdLimit - FD_RESERVE);
}

export function cores(): number {
  return availableParallelism();
}
