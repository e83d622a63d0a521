/**
 * What a load generator counts. Every attempt lands in exactly one of accepted, rejected (by HTTP
 * status) and failed (by reason); accepted connections that end before the run does are also
 * counted as dropped (by close code). Workers keep their own; the coordinator sums them.
 */

export interface BlastCounters {
  attempted: number;
  accepted: number;
  /** HTTP status → count. */
  rejected: Record<string, number>;
  /** Error code or reason → count. */
  failed: Record<string, number>;
  /** Close code → count, for accepted connections that ended before the run did. */
  dropped: Record<string, number>;
  /** Connections open right now (a gauge, summed over workers). */
  open: number;
  messagesSent: number;
  messagesReceived: number;
  /** Of messagesReceived, those that arrived during the ramp (only with --ramp-traffic). */
  rampMessagesReceived: number;
  /**
   * Of messagesReceived, those that arrived in the closing drain (subscribe, fire-and-forget): after
   * sending stopped at the end of the run, while messages in flight still arrive. Not the run's rate.
   */
  drainMessagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /**
   * Echoes that did not match what was sent (type or bytes), and messages the server sent while
   * nothing was outstanding on the connection (unsolicited: not counted as received).
   */
  mismatched: number;
  /** Messages sent that had no echo when the run ended. */
  unanswered: number;
  /** Open loop: times a due send had to wait (4096 echoes outstanding, or 16 KiB unsent on its socket). */
  delayedSends: number;
  /** Source (address, port) pairs found taken and skipped; not failures. */
  addressRetries: number;
  /** --reply-id: messages received whose id matched no request outstanding on the connection. */
  unmatched: number;
  /** Subscribe: messages received again on a connection (the same {{now_us}} as one of its last 16). */
  duplicates: number;
  /** Subscribe: --subscribe messages sent (one per connection; not in messagesSent). */
  subscribed: number;
  /** Subscribe: messages received that carried a publisher's {{now_us}}, duplicates excepted (timed deliveries). */
  delivered: number;
  /** --scenario: connections that ran every step. */
  completed: number;
  /** --scenario: messages an `on:` rule took (answered or took silently): neither received nor unmatched. */
  onMatched: number;
  /** --scenario: messages `on:` rules sent (answers and `every` timers): not in messagesSent. */
  onSent: number;
  /**
   * The smallest number of handshakes the process let be in flight during the ramp (its share of
   * --max-handshakes unless the server's connect latency made it lower; see handshake-window.ts).
   * Summed over processes: the whole run's handshakes in flight at their lowest.
   */
  handshakeWindowLowest: number;
  /**
   * Of the ETIMEDOUT failures, those during which the client process itself stalled for 10% of the
   * connect timeout or more: the generator, not the server, may explain them.
   */
  timeoutsWhileStalled: number;
  /** --lifetime: connections closed (cleanly, by blast) because their lifetime ended; each was replaced. */
  churned: number;
  /** --reconnect: connections the server dropped that were opened again. */
  reconnected: number;
  /** --reconnect: attempts made to open dropped connections again (the successful ones included). */
  reconnectAttempts: number;
  /** --reconnect: dropped connections waiting for their next attempt, or in one, now (a gauge). */
  reconnecting: number;
  /** --protocol socketio, graphql-ws: the protocol's own counts by kind (acks, events, next, …). Absent from older processes. */
  protocol?: Record<string, number>;
  /** --protocol: why connections were refused or ended the protocol's way (connect_error messages, close codes). */
  protocolReasons?: Record<string, number>;
  /** --compress: upgrades the server answered with permessage-deflate, and those it answered without. */
  compressionNegotiated: number;
  compressionNotNegotiated: number;
  /** --compress: bytes of messages compressed (before, after) and of compressed messages received (as they came, inflated). */
  deflateBytesIn: number;
  deflateBytesOut: number;
  inflateBytesIn: number;
  inflateBytesOut: number;
}

/** Failure reasons that are the generator's own limits, not the server's doing. */
export const GENERATOR_LIMIT_REASONS: Readonly<Record<string, string>> = {
  EMFILE: 'the open-file limit of a client process',
  ENFILE: 'the open-file limit of the system',
  EADDRNOTAVAIL: 'no free source (address, port) pair',
  ENOBUFS: 'kernel buffer space',
};

export function emptyBlastCounters(): BlastCounters {
  return {
    attempted: 0,
    accepted: 0,
    rejected: {},
    failed: {},
    dropped: {},
    open: 0,
    messagesSent: 0,
    messagesReceived: 0,
    rampMessagesReceived: 0,
    drainMessagesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    mismatched: 0,
    unanswered: 0,
    delayedSends: 0,
    addressRetries: 0,
    timeoutsWhileStalled: 0,
    unmatched: 0,
    duplicates: 0,
    subscribed: 0,
    delivered: 0,
    completed: 0,
    onMatched: 0,
    onSent: 0,
    handshakeWindowLowest: 0,
    churned: 0,
    reconnected: 0,
    reconnectAttempts: 0,
    reconnecting: 0,
    protocol: {},
    protocolReasons: {},
    compressionNegotiated: 0,
    compressionNotNegotiated: 0,
    deflateBytesIn: 0,
    deflateBytesOut: 0,
    inflateBytesIn: 0,
    inflateBytesOut: 0,
  };
}

export function addBlastCounters(into: BlastCounters, from: BlastCounters): BlastCounters {
  for (const key of [
    'attempted', 'accepted', 'open', 'messagesSent', 'messagesReceived', 'rampMessagesReceived', 'drainMessagesReceived', 'bytesSent', 'bytesReceived',
    'mismatched', 'unanswered', 'delayedSends', 'addressRetries', 'timeoutsWhileStalled', 'unmatched', 'duplicates', 'subscribed', 'delivered', 'completed', 'onMatched', 'onSent', 'handshakeWindowLowest',
    'churned', 'reconnected', 'reconnectAttempts', 'reconnecting',
    'compressionNegotiated', 'compressionNotNegotiated', 'deflateBytesIn', 'deflateBytesOut', 'inflateBytesIn', 'inflateBytesOut',
  ] as const) {
    // Results from before a counter existed lack it.
    if (from[key] === undefined) continue;
    into[key] += from[key];
  }
  for (const key of ['rejected', 'failed', 'dropped', 'protocol', 'protocolReasons'] as const) {
    const table = from[key];
    if (table === undefined) continue;
    const sums = (into[key] ??= {});
    for (const [name, count] of Object.entries(table)) sums[name] = (sums[name] ?? 0) + count;
  }
  return into;
}

export function bump(table: Record<string, number>, key: string | number): void {
  table[key] = (table[key] ?? 0) + 1;
}

export function sum(table: Record<string, number>): number {
  let total = 0;
  for (const key in table) total += table[key]!;
  return total;
}
