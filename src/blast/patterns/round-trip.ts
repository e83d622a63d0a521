/**
 * What echo and reply share: each message sent waits for one answer, and its latency is the round
 * trip from when it was due. Closed loop (the next message goes when an answer comes, -p of them
 * in flight) or, at --rate, the open loop (pacer.ts). What is outstanding when the run ends, or when
 * its connection closes before, is recorded as unanswered at its age, so a stall at the very end
 * still shows.
 */
import type { WsConnection } from '../ws-connection.js';
import { Pacer, type PacedSender } from './pacer.js';
import type { Pattern, PatternHost } from './pattern.js';

export abstract class RoundTripPattern implements Pattern, PacedSender {
  readonly drains = false;
  protected readonly host: PatternHost;
  protected readonly pacer: Pacer;
  /** Without --rate (or with --rate 0) the next message goes when an answer comes. */
  protected readonly closedLoop: boolean;

  constructor(host: PatternHost) {
    this.host = host;
    this.pacer = new Pacer(host, this);
    const rate = host.options.rate;
    this.closedLoop = !(rate !== undefined && rate > 0);
  }

  /** Send the connection's next message, due at `dueAt`, and note it outstanding. */
  abstract sendDue(connection: WsConnection, dueAt: number): void;
  abstract outstanding(connection: WsConnection): number;
  /** Record what is outstanding on the connection as unanswered, at its age at `endedAt`, and forget it. */
  protected abstract recordUnanswered(connection: WsConnection, endedAt: number): void;
  /** The connection's state for the open loop (its slot holds it from then on). */
  protected abstract openLoopState(connection: WsConnection): void;

  opened(_connection: WsConnection): void {}

  start(connection: WsConnection): void {
    const { rate, pipeline } = this.host.options;
    if (rate === undefined) {
      for (let i = 0; i < pipeline; i++) this.sendClosedLoop(connection);
    } else if (rate > 0) {
      this.openLoopState(connection);
      this.pacer.start(connection, rate);
    }
  }

  intervalMs(): number {
    return this.host.intervalMs;
  }

  /** The next closed-loop message, due `now` (the answer that frees its slot was read then). */
  protected sendClosedLoop(connection: WsConnection, now = performance.now()): void {
    if (this.host.stopping || connection.state !== 'open') return;
    const quota = this.host.options.messages;
    if (quota !== undefined && connection.sent >= quota) return;
    this.sendDue(connection, now);
  }

  abstract message(connection: WsConnection, payload: Buffer, binary: boolean): void;

  messageAt(_connection: WsConnection, _buffer: Buffer, _start: number, _end: number, _binary: boolean): boolean {
    return false;
  }

  drained(_connection: WsConnection): void {}

  finished(connection: WsConnection): boolean {
    const quota = this.host.options.messages;
    return quota !== undefined && connection.received >= quota;
  }

  allFinished(open: ReadonlySet<WsConnection>, done: number): boolean {
    return this.host.options.messages !== undefined && done >= open.size;
  }

  quiesce(connection: WsConnection): void {
    this.pacer.cancel(connection);
  }

  stop(connection: WsConnection, endedAt: number): void {
    this.recordUnanswered(connection, endedAt);
    this.pacer.cancel(connection);
  }

  stopped(): void {
    const counters = this.host.counters;
    counters.unanswered = counters.messagesSent - counters.messagesReceived;
  }

  closed(connection: WsConnection, _code: number, _closedByUs: boolean, stopping: boolean): void {
    // Messages in flight on a connection that ends before the run does are unanswered: recorded now,
    // at their age, as the ones still outstanding at the end are (stop() records those).
    if (!stopping) this.recordUnanswered(connection, performance.now());
    this.pacer.cancel(connection);
  }

  leave(_connection: WsConnection): void {}

  protected recordAged(ageMs: number): void {
    this.host.recordUs(ageMs * 1000);
  }
}
