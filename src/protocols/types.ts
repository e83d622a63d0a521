/**
 * An application protocol on the WebSocket (--protocol socketio, graphql-ws): a per-connection state
 * machine, one state object in `connection.pattern`, driven by the engine through its pattern
 * adapter (blast/patterns/protocol.ts) and a ProtocolHost that counts and records, as a scenario
 * runner is (scenario/types.ts). The runner never touches counters or histograms itself.
 */
import type { WsConnection } from '../blast/ws-connection.js';
import type { DataLayout } from '../message/template.js';

export interface ProtocolHost {
  /** The client process's number ({{worker}}). */
  readonly workerIndex: number;
  /** --data: where each {{data.FIELD}} is in a row (templates compile with it); undefined without --data. */
  readonly data: DataLayout | undefined;
  /** --data: the connection's row; undefined without --data. */
  rowOf(connection: WsConnection): readonly string[] | undefined;
  /** May the runner send application messages now? False once the run ends, or while it drains. */
  sending(): boolean;
  /**
   * Send an application message (an emit, a subscribe): counted as sent. Returns whether the runner
   * may send more now: false when the socket is full (the engine then calls `drained`) or closed.
   */
  send(connection: WsConnection, message: Buffer): boolean;
  /** Send the protocol's own housekeeping (connect, pong, disconnect): bytes only, not a message. */
  control(connection: WsConnection, message: Buffer): void;
  /** The protocol's second handshake (namespace connect, connection_ack) is done, `us` after the upgrade. */
  handshaken(connection: WsConnection, us: number): void;
  /** An answer to a message sent (an ack): counted as received, its round trip recorded. */
  answered(connection: WsConnection, bytes: number, latencyUs: number): void;
  /** A message the server pushed (an event, a `next`): counted as received and delivered; timed when `latencyUs` is known. */
  delivered(connection: WsConnection, bytes: number, latencyUs: number | undefined): void;
  /** Bytes received that are no message of the run's (pings, handshakes, other events). */
  housekeeping(connection: WsConnection, bytes: number): void;
  /** A message sent had no answer when the run (or its connection) ended: unanswered, recorded at its age. */
  unanswered(connection: WsConnection, ageUs: number): void;
  /** One more of a protocol count (result's protocol.counts). */
  count(kind: string): void;
  /** One more of a reason (connect_error messages, close codes: result's protocol.reasons). */
  reason(reason: string): void;
  /** The connection has done its --messages quota. */
  quotaDone(connection: WsConnection): void;
  close(connection: WsConnection, code: number): void;
}

export interface ProtocolRunner {
  /** The upgrade is done (101): begin the protocol's own handshake. */
  opened(connection: WsConnection): void;
  /** Traffic may start (the run began, or --ramp-traffic): it does once the protocol's handshake is done. */
  start(connection: WsConnection): void;
  message(connection: WsConnection, payload: Buffer, binary: boolean): void;
  drained(connection: WsConnection): void;
  /** Has the connection done its quota? */
  finished(connection: WsConnection): boolean;
  /** The run ends: no more sends; what is outstanding goes to host.unanswered. */
  stop(connection: WsConnection): void;
  /** The connection closed (`code`; by blast or not) before or after the end of the run. */
  closed(connection: WsConnection, code: number, closedByUs: boolean): void;
  /** Blast is about to close the connection at the end: say goodbye the protocol's way. */
  leave(connection: WsConnection): void;
}

/** The template context a runner renders every message of a connection with: one object, reused (no object per message). */
export class RenderContext {
  seq = 0;
  conn = 0;
  worker = 0;
  data: readonly string[] | undefined = undefined;
  readonly #host: ProtocolHost;
  constructor(host: ProtocolHost) {
    this.#host = host;
    this.worker = host.workerIndex;
  }
  /** This context, set for message `seq` (1, 2, …; 0 for a handshake) of `connection`. */
  of(connection: WsConnection, seq: number): this {
    this.seq = seq;
    this.conn = connection.index;
    this.data = this.#host.rowOf(connection);
    return this;
  }
}
