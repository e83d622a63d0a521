/**
 * The open loop, shared by the patterns that pace their sends (echo and reply at --rate,
 * fire-and-forget at --rate, subscribe's publishers): sends fall due every interval; late ones still
 * count from when they were due. One timer per connection, in its pattern state (`Paced`), all
 * calling one callback (no closure per connection or per send).
 */
import type { WsConnection } from '../ws-connection.js';
import type { PatternHost } from './pattern.js';

/**
 * Open loop, memory bound: a connection holds further sends while it has this many echoes
 * outstanding, or while its socket has more than WRITE_HIGH_WATER_BYTES unsent. So one connection
 * queues at most WRITE_HIGH_WATER_BYTES plus one message, and keeps at most MAX_OUTSTANDING send
 * times (8 B each); a process, its connections times that.
 */
export const MAX_OUTSTANDING = 4096;

/** A paced connection's pattern state (WsConnection.pattern) has its timer here. */
export interface Paced {
  timer: NodeJS.Timeout | undefined;
}

/** What a pattern tells its pacer. */
export interface PacedSender {
  /** The connection's next message, due at `dueAt` (performance.now() time): its latency counts from then. */
  sendDue(connection: WsConnection, dueAt: number): void;
  /** Messages sent and not yet answered on the connection (the open loop's bound). */
  outstanding(connection: WsConnection): number;
  /** The interval between two sends of a connection now, ms. */
  intervalMs(): number;
}

export class Pacer {
  readonly #host: PatternHost;
  readonly #sender: PacedSender;

  constructor(host: PatternHost, sender: PacedSender) {
    this.#host = host;
    this.#sender = sender;
  }

  /**
   * The connection's pattern state (`state`, now in its slot) starts its open loop at `rate` a
   * second. The first send falls at a random point of its first interval, so that connections
   * that start together (at the start of the run) do not send in lockstep. Its next due time is
   * connection.sentAt.
   */
  start(connection: WsConnection, rate: number): void {
    connection.sentAt = performance.now() + Math.random() * (1000 / rate);
    this.#tick(connection);
  }

  /** No more sends on the connection (the run ends, drains, or the connection closed). */
  cancel(connection: WsConnection): void {
    const state = connection.pattern as Paced | undefined;
    if (state?.timer) clearTimeout(state.timer);
    if (state) state.timer = undefined;
  }

  #tick(connection: WsConnection): void {
    const state = connection.pattern as Paced;
    state.timer = undefined;
    const host = this.#host;
    if (host.stopping || host.quiescing || connection.state !== 'open') return;
    const quota = host.options.messages;
    const sender = this.#sender;
    const intervalMs = sender.intervalMs();
    const now = performance.now();
    while (connection.sentAt <= now && sender.outstanding(connection) < MAX_OUTSTANDING && !connection.full) {
      if (quota !== undefined && connection.sent >= quota) return;
      sender.sendDue(connection, connection.sentAt);
      connection.sentAt += intervalMs;
    }
    // Held back (too many outstanding, or the socket not draining): sends that fall due wait, as
    // wrk2's do, and go out later, still timed from when they were due, so a long stall stays in
    // the percentiles instead of being skipped.
    const late = connection.sentAt <= now;
    if (late) host.counters.delayedSends++;
    state.timer = setTimeout(this.#onTimer, late ? Math.max(1, intervalMs) : connection.sentAt - now, connection);
  }

  readonly #onTimer = (connection: WsConnection) => this.#tick(connection);
}
