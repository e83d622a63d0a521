/**
 * --protocol socketio, graphql-ws: the protocol's own state machine on each connection
 * (protocols/, behind its ProtocolHost), its state in the connection's slot. An ack is a round trip
 * from its emit; a pushed event or `next` is a delivery, timed when it carries its send time; what
 * is outstanding at the end is unanswered at its age. Its --pattern decides whether the end drains
 * (fire, subscribe) and what --messages waits for.
 */
import { bump } from '../../metrics/blast-counters.js';
import type { DataLayout } from '../../message/template.js';
import { GraphqlWsRunner } from '../../protocols/graphql-ws-runner.js';
import { SocketIoRunner } from '../../protocols/socketio-runner.js';
import type { ProtocolHost, ProtocolRunner } from '../../protocols/types.js';
import { Opcode, type WsConnection } from '../ws-connection.js';
import type { Pattern, PatternHost } from './pattern.js';

export class ProtocolPattern implements Pattern {
  readonly drains: boolean;
  readonly #host: PatternHost;
  readonly #runner: ProtocolRunner;

  /** `handshaken`: records the protocol's second handshake, µs after the upgrade. */
  constructor(host: PatternHost, layout: DataLayout | undefined, handshaken: (us: number) => void) {
    this.#host = host;
    const pattern = host.options.pattern;
    this.drains = pattern === 'subscribe' || pattern === 'fire';
    this.#runner = createRunner(host, protocolHost(host, layout, handshaken));
  }

  opened(connection: WsConnection): void {
    this.#runner.opened(connection);
  }

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

  /** --messages: fire and subscribe, when every sender has sent its quota; otherwise when every connection has had its answers. */
  allFinished(open: ReadonlySet<WsConnection>, done: number): boolean {
    const { messages: quota, pattern } = this.#host.options;
    if (quota === undefined) return false;
    if (pattern === 'fire' || pattern === 'subscribe') {
      for (const connection of open) if ((pattern === 'fire' || connection.publisher) && connection.sent < quota) return false;
      return true;
    }
    return done >= open.size;
  }

  quiesce(_connection: WsConnection): void {}

  /** Acks still outstanding are unanswered, recorded at their age (in the last interval too). */
  stop(connection: WsConnection, _endedAt: number): void {
    this.#runner.stop(connection);
  }

  stopped(): void {}

  closed(connection: WsConnection, code: number, closedByUs: boolean): void {
    this.#runner.closed(connection, code, closedByUs);
  }

  leave(connection: WsConnection): void {
    this.#runner.leave(connection);
  }
}

function createRunner(host: PatternHost, protocolHost: ProtocolHost): ProtocolRunner {
  const options = host.options;
  if (options.protocol === 'socketio') {
    return new SocketIoRunner(
      { settings: options.socketio!, pattern: options.pattern as 'echo' | 'fire' | 'subscribe', rate: options.rate, pipeline: options.pipeline, messages: options.messages, subscribe: options.subscribe },
      protocolHost,
    );
  }
  return new GraphqlWsRunner({ settings: options.graphql!, pipeline: options.pipeline, messages: options.messages }, protocolHost);
}

/** What a protocol runner may do on a connection; the engine counts and records. */
function protocolHost(host: PatternHost, layout: DataLayout | undefined, handshaken: (us: number) => void): ProtocolHost {
  const counters = host.counters;
  const counts = (counters.protocol ??= {});
  const reasons = (counters.protocolReasons ??= {});
  return {
    workerIndex: host.options.index,
    data: layout,
    rowOf: (connection) => host.rowOf(connection),
    sending: () => !host.stopping && !host.quiescing,
    send: (connection, message) => {
      if (host.stopping || connection.state !== 'open') return false;
      connection.sent++;
      counters.messagesSent++;
      counters.bytesSent += message.length;
      connection.send(message, Opcode.text);
      return !connection.full;
    },
    control: (connection, message) => {
      if (connection.state !== 'open') return;
      counters.bytesSent += message.length;
      connection.send(message, Opcode.text);
    },
    handshaken: (_connection, us) => handshaken(us),
    answered: (connection, bytes, latencyUs) => {
      connection.received++;
      counters.messagesReceived++;
      counters.bytesReceived += bytes;
      host.recordUs(latencyUs);
    },
    delivered: (connection, bytes, latencyUs) => {
      host.arrived();
      connection.received++;
      counters.messagesReceived++;
      counters.bytesReceived += bytes;
      counters.delivered++;
      if (latencyUs !== undefined) host.recordUs(latencyUs);
    },
    housekeeping: (_connection, bytes) => {
      counters.bytesReceived += bytes;
    },
    unanswered: (_connection, ageUs) => {
      counters.unanswered++;
      host.recordUs(ageUs);
    },
    count: (kind) => bump(counts, kind),
    reason: (reason) => bump(reasons, reason),
    quotaDone: (connection) => host.done(connection),
    close: (connection, code) => connection.close(code),
  };
}
