/**
 * A scenario (--scenario FILE): a short sequence of steps each connection follows after its
 * upgrade. The engine (blast/load-generator.ts) runs a ScenarioRunner through a ScenarioHost, so the
 * runner never touches sockets or counters itself.
 */
import type { WsConnection } from '../blast/ws-connection.js';

/** What the engine does for a scenario runner: every count and latency goes through here. */
export interface ScenarioHost {
  /** The client process's number ({{worker}}). */
  readonly workerIndex: number;
  /** Send a message on the connection (counted as sent). */
  send(connection: WsConnection, message: Buffer, binary: boolean): void;
  /**
   * An expect step took this message: counted as received, and `latencyUs` (from the step's last
   * send, or from the start of the expect when nothing was sent) recorded as a reply latency.
   */
  matched(connection: WsConnection, message: Buffer, latencyUs: number): void;
  /** A message arrived that no expect step was waiting for: counted as unmatched. */
  unmatched(connection: WsConnection, message: Buffer): void;
  /**
   * An expect step timed out: counted as unanswered, its wait recorded as a reply latency of at
   * least that long. The runner runs no further steps on the connection, which stays open, idle.
   */
  expectTimedOut(connection: WsConnection, waitedUs: number): void;
  /** The connection has run its last step: counted as completed; it stays open until the run ends. */
  completed(connection: WsConnection): void;
}

export interface ScenarioRunner {
  /** The connection is open: run its steps from the first. */
  start(connection: WsConnection): void;
  message(connection: WsConnection, payload: Buffer, binary: boolean): void;
  /**
   * The run ends (or the connection closed): cancel its timers. Returns how long (µs) an expect
   * step still waiting had waited, or undefined: the engine counts it as unanswered.
   */
  stop(connection: WsConnection): number | undefined;
}
