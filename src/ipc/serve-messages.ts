/** The typed messages between the serve primary and its worker processes. */
import type { ServeConfig } from '../config/serve-config.js';
import type { ServeCounters, ServeStats } from '../metrics/serve-stats.js';
import type { AdmissionOutcome } from '../serve/admission.js';

export type PrimaryToServeWorker =
  | { t: 'start'; config: ServeConfig; index: number }
  /** Sent with a socket handle: a connection for this worker to serve. */
  | { t: 'conn' }
  | { t: 'admit'; id: number; outcome: AdmissionOutcome }
  | { t: 'counters-request'; id: number }
  | { t: 'stats-reply'; id: number; stats: ServeStats }
  | { t: 'shutdown' };

export type ServeWorkerToPrimary =
  | { t: 'ready' }
  /**
   * `n` sockets arrived since the last ack, and the worker now has `live` sockets open (held,
   * upgrading or being refused): the primary spreads new connections by it, and never hands a
   * worker more sockets than its open-file limit allows.
   */
  | { t: 'ack'; n: number; live: number }
  | { t: 'acquire'; id: number }
  | { t: 'cancel'; id: number }
  | { t: 'release'; n: number }
  | { t: 'counters'; id: number; counters: ServeCounters }
  /** A worker answering /metrics or /healthz wants the global figures. */
  | { t: 'stats-request'; id: number }
  | { t: 'final'; counters: ServeCounters };
