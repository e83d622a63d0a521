/**
 * What a server counts. Each worker keeps its own ServeCounters; the primary sums them. The
 * admission state (open, queued, max) comes from the one admission point, so it is exact.
 */

/** Why an attempt did not become a WebSocket connection, and the HTTP status it was answered with. */
export const rejectStatus = {
  full: 503,
  'queue-timeout': 503,
  'worker-full': 503,
  'shutting-down': 503,
  'not-found': 404,
  /** A malformed upgrade, or a request Node's HTTP parser refused. */
  'bad-request': 400,
  /** Request headers over Node's limit (--max-http-header-size), refused by its parser. */
  'header-too-large': 431,
} as const;
export type RejectReason = keyof typeof rejectStatus;

export interface ServeCounters {
  /** Upgrades completed by this process. Server-wide, stats take accepted from the admission point. */
  accepted: number;
  closed: number;
  rejected: Record<RejectReason, number>;
  /** TCP connections closed because they did not finish an upgrade in time; they never held a slot. */
  handshakeTimeouts: number;
  /** Messages received from clients (in broadcast: published). */
  messagesIn: number;
  /** Messages sent to clients: echoes, replies, or broadcast deliveries (one per subscriber reached). */
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Messages in over the last whole second, as each process measured it (summed over processes). */
  messagesPerSecond: number;
  /** Reply mode: requests answered with an error (not JSON, no id). Broadcast: messages dropped for a bad room field. */
  badMessages: number;
  /** Broadcast: subscribers closed (1008) because their unsent bytes passed --subscriber-buffer. */
  slowSubscribersDropped: number;
  /** Broadcast: messages published in another server process and fanned out by this one. */
  relayedIn: number;
  /**
   * Broadcast: relays the primary did not pass to a worker whose backlog of relays passed its bound
   * (that worker's subscribers missed those messages). Counted by the primary only.
   */
  relaysDropped: number;
  /** --compress: connections that negotiated permessage-deflate (the rest of `accepted` did not). */
  compressionNegotiated: number;
}

export interface ServeStats extends ServeCounters {
  readonly max: number;
  readonly open: number;
  readonly queued: number;
  /** Worker processes running now (a replaced worker counts once). */
  readonly workers: number;
  /** Worker processes that ended unasked and were replaced, or not (see workers). */
  readonly workerExits: number;
  readonly uptimeMs: number;
}

/**
 * Server-wide stats: counters summed over processes, with the connection counts taken from the
 * admission point (accepted = slots granted, closed = granted less open), so that they are exact
 * and agree with `open` at every instant, however late a busy worker reports.
 */
export function serveStats(
  counters: ServeCounters,
  admission: { max: number; open: number; queued: number; admitted: number },
  workers: number,
  workerExits: number,
  uptimeMs: number,
): ServeStats {
  return {
    ...structuredClone(counters),
    accepted: admission.admitted,
    closed: admission.admitted - admission.open,
    max: admission.max,
    open: admission.open,
    queued: admission.queued,
    workers,
    workerExits,
    uptimeMs,
  };
}

export function emptyServeCounters(): ServeCounters {
  return {
    accepted: 0,
    closed: 0,
    rejected: { full: 0, 'queue-timeout': 0, 'worker-full': 0, 'shutting-down': 0, 'not-found': 0, 'bad-request': 0, 'header-too-large': 0 },
    handshakeTimeouts: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesPerSecond: 0,
    badMessages: 0,
    slowSubscribersDropped: 0,
    relayedIn: 0,
    relaysDropped: 0,
    compressionNegotiated: 0,
  };
}

export function addServeCounters(into: ServeCounters, from: ServeCounters): ServeCounters {
  into.accepted += from.accepted;
  into.closed += from.closed;
  for (const reason of Object.keys(into.rejected) as RejectReason[]) into.rejected[reason] += from.rejected[reason] ?? 0;
  into.handshakeTimeouts += from.handshakeTimeouts;
  into.messagesIn += from.messagesIn;
  into.messagesOut += from.messagesOut;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.messagesPerSecond += from.messagesPerSecond;
  into.badMessages += from.badMessages;
  into.slowSubscribersDropped += from.slowSubscribersDropped;
  into.relayedIn += from.relayedIn;
  into.relaysDropped += from.relaysDropped;
  into.compressionNegotiated += from.compressionNegotiated ?? 0;
  return into;
}

export function totalRejected(counters: ServeCounters): number {
  return Object.values(counters.rejected).reduce((sum, count) => sum + count, 0);
}
