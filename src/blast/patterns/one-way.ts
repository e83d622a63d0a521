/**
 * What fire-and-forget and subscribe share: messages go out without waiting for an answer (at a
 * pace, or as fast as the socket takes them), and what comes back is counted, and timed from the
 * {{now_us}} it carries when it does. At the end, sending stops first and what arrives still counts
 * until nothing has for a while (drains): messages in flight when the run ends, however late, are
 * not counted as missed.
 */
import type { WsConnection } from '../ws-connection.js';
import { Pacer, type PacedSender } from './pacer.js';
import type { Pattern, PatternHost } from './pattern.js';

export abstract class OneWayPattern implements Pattern, PacedSender {
  readonly drains = true;
  protected readonly host: PatternHost;
  protected readonly pacer: Pacer;

  constructor(host: PatternHost) {
    this.host = host;
    this.pacer = new Pacer(host, this);
  }

  abstract start(connection: WsConnection): void;
  abstract message(connection: WsConnection, payload: Buffer, binary: boolean): void;
  abstract intervalMs(): number;
  /** Does this connection send (all do, but subscribe's listeners)? */
  protected abstract sends(connection: WsConnection): boolean;

  opened(_connection: WsConnection): void {}

  sendDue(connection: WsConnection, _dueAt: number): void {
    const outgoing = this.host.outgoing;
    outgoing.send(connection, outgoing.next(connection));
  }

  outstanding(_connection: WsConnection): number {
    return 0;
  }

  messageAt(_connection: WsConnection, _buffer: Buffer, _start: number, _end: number, _binary: boolean): boolean {
    return false;
  }

  drained(_connection: WsConnection): void {}

  finished(connection: WsConnection): boolean {
    const quota = this.host.options.messages;
    return quota !== undefined && connection.received >= quota;
  }

  /** --messages: every connection that sends has sent its quota. */
  allFinished(open: ReadonlySet<WsConnection>, _done: number): boolean {
    const quota = this.host.options.messages;
    if (quota === undefined) return false;
    for (const connection of open) if (this.sends(connection) && connection.sent < quota) return false;
    return true;
  }

  quiesce(connection: WsConnection): void {
    this.pacer.cancel(connection);
  }

  stop(connection: WsConnection, _endedAt: number): void {
    this.pacer.cancel(connection);
  }

  stopped(): void {}

  closed(connection: WsConnection, _code: number, _closedByUs: boolean, _stopping: boolean): void {
    this.pacer.cancel(connection);
  }

  leave(_connection: WsConnection): void {}
}
