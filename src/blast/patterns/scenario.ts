/**
 * --scenario: each connection follows the scenario's steps (scenario/runner.ts, behind its
 * ScenarioHost). An expect step's latency is from the step's last send (or from the start of the
 * expect); a message no expect or rule takes is unmatched; an expect still waiting when the run or
 * its connection ends is unanswered, recorded at its wait. The runner's state for a connection is in
 * its slot.
 */
import type { DataLayout } from '../../message/template.js';
import { StepRunner } from '../../scenario/runner.js';
import type { ScenarioHost, ScenarioRunner } from '../../scenario/types.js';
import { Opcode, type WsConnection } from '../ws-connection.js';
import type { Pattern, PatternHost } from './pattern.js';

export class ScenarioPattern implements Pattern {
  readonly drains = false;
  readonly #host: PatternHost;
  readonly #runner: ScenarioRunner;

  constructor(host: PatternHost, layout: DataLayout | undefined) {
    this.#host = host;
    this.#runner = new StepRunner(host.options.scenario!, scenarioHost(host), host.options.binary, layout);
  }

  opened(_connection: WsConnection): void {}

  start(connection: WsConnection): void {
    this.#runner.start(connection);
  }

  message(connection: WsConnection, payload: Buffer, binary: boolean): void {
    this.#runner.message(connection, payload, binary);
  }

  messageAt(_connection: WsConnection, _buffer: Buffer, _start: number, _end: number, _binary: boolean): boolean {
    return false;
  }

  drained(connection: WsConnection): void {
    this.#runner.drained(connection);
  }

  finished(connection: WsConnection): boolean {
    return this.#runner.finished(connection);
  }

  /** Every open connection has run its last step or stopped at an expect that timed out. */
  allFinished(open: ReadonlySet<WsConnection>, done: number): boolean {
    return done >= open.size;
  }

  quiesce(_connection: WsConnection): void {}

  /** An expect still waiting is unanswered, recorded at its wait (in the last interval too). */
  stop(connection: WsConnection, _endedAt: number): void {
    const waitedUs = this.#runner.stop(connection);
    if (waitedUs === undefined) return;
    this.#host.counters.unanswered++;
    this.#host.recordUs(waitedUs);
  }

  stopped(): void {}

  closed(connection: WsConnection): void {
    this.stop(connection, 0);
  }

  leave(_connection: WsConnection): void {}
}

/** What a scenario runner may do on a connection; the engine counts and records. */
function scenarioHost(host: PatternHost): ScenarioHost {
  const counters = host.counters;
  return {
    workerIndex: host.options.index,
    rowOf: (connection) => host.rowOf(connection),
    send: (connection, message, binary) => {
      if (host.stopping || connection.state !== 'open') return false;
      connection.sent++;
      counters.messagesSent++;
      counters.bytesSent += message.length;
      connection.send(message, binary ? Opcode.binary : Opcode.text);
      return !connection.full;
    },
    matched: (connection, message, latencyUs) => {
      connection.received++;
      counters.messagesReceived++;
      counters.bytesReceived += message.length;
      host.recordUs(latencyUs);
    },
    unmatched: (_connection, message) => {
      counters.unmatched++;
      counters.bytesReceived += message.length;
    },
    expectTimedOut: (connection, waitedUs) => {
      counters.unanswered++;
      host.recordUs(waitedUs);
      host.done(connection);
    },
    taken: (_connection, message) => {
      counters.onMatched++;
      counters.bytesReceived += message.length;
    },
    sendApart: (connection, message, binary) => {
      if (host.stopping || connection.state !== 'open') return;
      counters.onSent++;
      counters.bytesSent += message.length;
      connection.send(message, binary ? Opcode.binary : Opcode.text);
    },
    completed: (connection) => {
      counters.completed++;
      host.done(connection);
    },
  };
}
