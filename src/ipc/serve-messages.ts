/** The typed messages between the serve primary and its worker processes. */
import type { FastPathVerdicts } from '../runtime/fast-paths.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { ServeCounters, ServeStats } from '../metrics/serve-stats.js';

/** The admission point's answer to a request for a slot. */
export type AdmissionOutcome = 'admitted' | 'full' | 'queue-timeout' | 'worker-full' | 'shutting-down';

/**
 * Broadcast: a message published in one server process, for the members of `room` in the others.
 * `data` is the payload as text (a text message) or base64 (a binary one): the channel carries JSON.
 */
export interface RelayedBroadcast {
  t: 'broadcast';
  room: number;
  binary: boolean;
  data: string;
}

/**
 * Relay text waiting to leave a process, past which it takes no more: a worker pauses its
 * publishers until its backlog halves; the primary drops relays to a worker that far behind.
 */
export const RELAY_BACKLOG_BYTES = 16 * 1024 * 1024;

export type PrimaryToServeWorker =
  /** `socketBudget`: sockets the worker may have open at once before it stops accepting. */
  | { t: 'start'; config: ServeConfig; index: number; socketBudget: number }
  /** Bind the listening socket (one worker does, so that the primary never accepts). */
  | { t: 'bind' }
  /** Sent with a listening handle: one more descriptor of the listening socket to accept through. */
  | { t: 'listener' }
  | { t: 'admit'; id: number; outcome: AdmissionOutcome }
  | { t: 'counters-request'; id: number }
  | { t: 'stats-reply'; id: number; stats: ServeStats }
  | { t: 'shutdown' }
  | RelayedBroadcast;

export type ServeWorkerToPrimary =
  | { t: 'ready'; fastPaths?: FastPathVerdicts }
  /** Sent with the listening handle, which the primary keeps (unpolled) and duplicates for workers. */
  | { t: 'bound'; port: number }
  | { t: 'bind-failed'; code: string }
  /** The worker has room again after pausing near its open-file limit: send it `n` descriptors. */
  | { t: 'listeners-wanted'; n: number }
  | { t: 'acquire'; id: number }
  | { t: 'cancel'; id: number }
  | { t: 'release'; n: number }
  | { t: 'counters'; id: number; counters: ServeCounters }
  /** A worker answering /metrics or /healthz wants the global figures. */
  | { t: 'stats-request'; id: number }
  | { t: 'final'; counters: ServeCounters }
  | RelayedBroadcast;
