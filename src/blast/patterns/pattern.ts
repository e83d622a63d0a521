/**
 * A traffic pattern of blast (echo, reply, fire-and-forget, flood, subscribe, scenario, an
 * application protocol): what a connection sends once it is open, what each message from the server
 * means for it (its echo, its reply, a delivery, or unmatched), what is outstanding, how it drains
 * and stops, and what its latency measures. The engine (../load-generator.ts) keeps the connections'
 * lifecycle, the ramp, the phases, histograms and counters, and calls the run's one pattern through
 * this interface; the pattern acts only through a PatternHost, and keeps its per-connection state in
 * the connection's one opaque slot (WsConnection.pattern), so a new pattern is a new file.
 */
import type { LoadGeneratorOptions } from '../../ipc/blast-messages.js';
import type { BlastCounters } from '../../metrics/blast-counters.js';
import type { WsConnection } from '../ws-connection.js';
import type { Outgoing } from './outgoing.js';

/** What the engine does for a pattern: every send, count and latency goes through here. */
export interface PatternHost {
  readonly options: LoadGeneratorOptions;
  /** The engine's counters: a pattern adds what is its own (mismatched, unmatched, delivered, ...). */
  readonly counters: BlastCounters;
  /** The run's message (--message or the payload) and how to render, stamp and send it. */
  readonly outgoing: Outgoing;
  /** The run is over: nothing is sent or counted any more. */
  readonly stopping: boolean;
  /** The run is ending and waits for what is in flight (Pattern.drains): nothing more is sent. */
  readonly quiescing: boolean;
  /** Traffic flows: the run has begun, or --ramp-traffic. */
  readonly trafficFlows: boolean;
  /** The open loop's interval between two sends of a connection, ms (wsbench find may change --rate). */
  readonly intervalMs: number;
  /** The connection's --data row; undefined without --data. */
  rowOf(connection: WsConnection): readonly string[] | undefined;
  /**
   * An answer to a message outstanding on the connection, read at `now` (performance.now()):
   * counted as received, its round trip recorded from `sentAt` when known; --messages counts it.
   */
  received(connection: WsConnection, bytes: number, sentAt: number | undefined, now: number): void;
  /** A latency, µs, into the current phase's (and interval's) round trips. */
  recordUs(us: number): void;
  /** Something arrived: while the run drains at the end, the drain lasts until arrivals go quiet. */
  arrived(): void;
  /** The connection has done what it had to (a scenario's last step, a protocol's quota). */
  done(connection: WsConnection): void;
}

export interface Pattern {
  /**
   * Does the end of the run wait for messages in flight (quiesce, then stop once arrivals have gone
   * quiet) so that they count? Echo and reply need not: what is outstanding at the end is recorded
   * at its age.
   */
  readonly drains: boolean;
  /** The upgrade is done: what the connection does before its traffic (a subscribe message, a protocol's handshake). */
  opened(connection: WsConnection): void;
  /** The connection's traffic starts: with the run, or at its open with --ramp-traffic. */
  start(connection: WsConnection): void;
  /** A message from the server: the pattern decides what it is, counts it and times it (or not). */
  message(connection: WsConnection, payload: Buffer, binary: boolean): void;
  /**
   * The fast path, before `message`: a message read where it lies in the read buffer. Returns true
   * if the pattern took it; false sends it the general way (message), so return false if unsure.
   */
  messageAt(connection: WsConnection, buffer: Buffer, start: number, end: number, binary: boolean): boolean;
  /** The socket drained after a write that filled it. */
  drained(connection: WsConnection): void;
  /** Has the connection done its part (its --messages quota, a scenario's last step)? */
  finished(connection: WsConnection): boolean;
  /** --messages: have the connections open done their part? `done` counts those that said so through the host. */
  allFinished(open: ReadonlySet<WsConnection>, done: number): boolean;
  /** The run is ending and drains: the connection sends nothing more; what arrives still counts. */
  quiesce(connection: WsConnection): void;
  /** The run ends: no more sends on the connection; what is outstanding is recorded as unanswered at its age (`endedAt`, performance.now()). */
  stop(connection: WsConnection, endedAt: number): void;
  /** After stop() on every open connection: the totals the pattern sets (counters.unanswered). */
  stopped(): void;
  /** The connection closed, before the end of the run (`stopping` false) or after. */
  closed(connection: WsConnection, code: number, closedByUs: boolean, stopping: boolean): void;
  /** Blast is about to close the connection at the end: say goodbye the pattern's way. */
  leave(connection: WsConnection): void;
}
