/**
 * A scenario (--scenario FILE): a short sequence of steps each connection follows after its
 * upgrade. The engine runs a ScenarioRunner through its pattern adapter (blast/patterns/scenario.ts)
 * and a ScenarioHost, so the runner never touches sockets or counters itself.
 */
import type { WsConnection } from '../blast/ws-connection.js';

/** What the engine does for a scenario runner: every count and latency goes through here. */
export interface ScenarioHost {
  /** The client process's number ({{worker}}). */
  readonly workerIndex: number;
  /** The connection's --data row ({{data.FIELD}}); undefined without --data. */
  rowOf(connection: WsConnection): readonly string[] | undefined;
  /**
   * Send a message on the connection (counted as sent). Returns whether the runner may send more
   * now: false when the socket holds more than the engine's write high-water mark unsent (or is
   * no longer open); the engine then calls `drained` when it has drained.
   */
  send(connection: WsConnection, message: Buffer, binary: boolean): boolean;
  /**
   * An expect step took this message: counted as received, and `latencyUs` (from the step's last
   * send, or from the start of the expect when nothing was sent) recorded as a reply latency.
   */
  matched(connection: WsConnection, message: Buffer, latencyUs: number): void;
  /**
   * A message that no expect step took (none was waiting, or it did not match the one waiting):
   * counted as unmatched, not as received.
   */
  unmatched(connection: WsConnection, message: Buffer): void;
  /**
   * An expect step timed out: counted as unanswered, its wait recorded as a reply latency of at
   * least that long. The runner runs no further steps on the connection, which stays open, idle.
   */
  expectTimedOut(connection: WsConnection, waitedUs: number): void;
  /**
   * An `on:` rule took this message (answered it or took it silently): counted apart, as onMatched,
   * neither received nor unmatched.
   */
  taken(connection: WsConnection, message: Buffer): void;
  /**
   * Send a rule's message (an answer, or an `every`): counted apart, as onSent, not in sent (so
   * {{seq}} keeps numbering the steps' messages). Sent even on a full socket: a heartbeat is due.
   */
  sendApart(connection: WsConnection, message: Buffer, binary: boolean): void;
  /** The connection has run its last step: counted as completed; it stays open until the run ends. */
  completed(connection: WsConnection): void;
}

export interface ScenarioRunner {
  /** The connection's traffic starts (with the run, or at its open with --ramp-traffic): run its steps from the first. */
  start(connection: WsConnection): void;
  message(connection: WsConnection, payload: Buffer, binary: boolean): void;
  /** The socket drained after `send` returned false: carry on. */
  drained(connection: WsConnection): void;
  /** Has the connection run its last step, or stopped at an expect that timed out? */
  finished(connection: WsConnection): boolean;
  /**
   * The run ends (or the connection closed): cancel its timers. Returns how long (µs) an expect
   * step still waiting had waited, or undefined: the engine counts it as unanswered.
   */
  stop(connection: WsConnection): number | undefined;
}
