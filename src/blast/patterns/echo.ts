/**
 * Echo (the default): the server sends each message back. An echo is the oldest message outstanding
 * on its connection coming back with its bytes and its type, matched by content; its latency is the
 * round trip from when the message was due. Anything else (nothing outstanding: the server sent it
 * unasked; other bytes: a push, a greeting, a changed message) is counted as mismatched and nothing
 * more: never timed, never counted as received, and it sends nothing, so a server that pushes cannot
 * pass for a fast echo server, and a run in which nothing matched has measured nothing (exit 1).
 *
 * Closed loop with one message in flight keeps no state beyond connection.sentAt; pipelining (-p)
 * and the open loop (--rate) keep the send times outstanding, and a templated message whose text
 * changes keeps the messages outstanding to compare echoes with (EchoState, in the connection's slot).
 */
import { isUtf8 } from 'node:buffer';
import type { WsConnection } from '../ws-connection.js';
import type { Paced } from './pacer.js';
import type { PatternHost } from './pattern.js';
import { RoundTripPattern } from './round-trip.js';

class EchoState implements Paced {
  /** Pipelining and the open loop: the due times of the messages not yet echoed, oldest first. */
  intended: number[] | undefined = undefined;
  /** A message that changes: the messages not yet echoed, oldest first, to check echoes against. */
  expected: Buffer[] | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
}

export class EchoPattern extends RoundTripPattern {
  /** The run's fixed message, when valid UTF-8 or sent as binary: messageAt matches it in place. */
  readonly #constantEcho: Buffer | undefined;
  /** The message changes from one send to the next: echoes are compared with what each sent. */
  readonly #changing: boolean;
  readonly #binary: boolean;

  constructor(host: PatternHost) {
    super(host);
    const fixed = host.outgoing.fixedMessage;
    this.#binary = host.options.binary;
    this.#constantEcho = fixed && (this.#binary || isUtf8(fixed)) ? fixed : undefined;
    this.#changing = fixed === undefined;
  }

  override start(connection: WsConnection): void {
    if (this.host.options.rate === undefined && this.host.options.pipeline > 1) state(connection).intended = [];
    super.start(connection);
  }

  protected openLoopState(connection: WsConnection): void {
    state(connection).intended = [];
  }

  sendDue(connection: WsConnection, dueAt: number): void {
    const outgoing = this.host.outgoing;
    const message = outgoing.next(connection);
    const echo = connection.pattern as EchoState | undefined;
    if (echo?.intended) echo.intended.push(dueAt);
    else connection.sentAt = dueAt;
    if (this.#changing) (state(connection).expected ??= []).push(message);
    outgoing.send(connection, message);
  }

  outstanding(connection: WsConnection): number {
    return (connection.pattern as EchoState).intended!.length;
  }

  /**
   * The commonest run's fast path: an echo of the run's one constant payload, matched where it
   * lies in the read buffer, so it costs no Buffer view and no UTF-8 check (the payload was checked
   * once, and these are its bytes). Anything else (another length, other bytes, nothing
   * outstanding) goes the general way, through message().
   */
  override messageAt(connection: WsConnection, buffer: Buffer, start: number, end: number, binary: boolean): boolean {
    const payload = this.#constantEcho;
    if (!payload || binary !== this.#binary || connection.received >= connection.sent) return false;
    this.host.outgoing.stamp(connection);
    if (!bytesEqual(buffer, start, end, payload)) return false;
    this.#echoed(connection, payload.length);
    return true;
  }

  message(connection: WsConnection, payload: Buffer, binary: boolean): void {
    const echo = connection.pattern as EchoState | undefined;
    const queue = echo?.expected;
    if (!queue) this.host.outgoing.stamp(connection);
    const expected = connection.received >= connection.sent ? undefined : queue ? queue[0] : this.host.outgoing.fixedMessage;
    if (expected === undefined || binary !== this.#binary || !payload.equals(expected)) {
      this.host.counters.mismatched++;
      return;
    }
    queue?.shift();
    this.#echoed(connection, payload.length);
  }

  /** The oldest message outstanding came back: timed from when it was due; in a closed loop, the next goes. */
  #echoed(connection: WsConnection, bytes: number): void {
    const intended = (connection.pattern as EchoState | undefined)?.intended;
    const sentAt = intended ? intended.shift() : connection.sentAt;
    const now = performance.now();
    this.host.received(connection, bytes, sentAt, now);
    if (this.closedLoop) this.sendClosedLoop(connection, now);
  }

  protected recordUnanswered(connection: WsConnection, endedAt: number): void {
    const intended = (connection.pattern as EchoState | undefined)?.intended;
    if (intended) {
      for (const sentAt of intended) this.recordAged(endedAt - sentAt);
      intended.length = 0;
    } else if (connection.sent > connection.received) {
      this.recordAged(endedAt - connection.sentAt);
    }
  }
}

function state(connection: WsConnection): EchoState {
  let echo = connection.pattern as EchoState | undefined;
  if (!echo) connection.pattern = echo = new EchoState();
  return echo;
}

/**
 * Do buffer[start, end) and `expected` hold the same bytes? Four bytes at a time through DataViews
 * (kept for the last two buffers compared: the shared read buffer and the message): about five
 * times faster than a byte loop or Buffer.compare for a 64-byte message, measured here.
 */
function bytesEqual(buffer: Buffer, start: number, end: number, expected: Buffer): boolean {
  const length = expected.length;
  if (end - start !== length) return false;
  const got = dataViewOf(buffer);
  const want = dataViewOf(expected);
  let i = 0;
  for (; i + 4 <= length; i += 4) if (got.getInt32(start + i) !== want.getInt32(i)) return false;
  for (; i < length; i++) if (buffer[start + i] !== expected[i]) return false;
  return true;
}

/**
 * A DataView of the same bytes as a Buffer, kept for the last two Buffers asked for. They are
 * found by the Buffer object itself: reading a Buffer's .buffer or .byteOffset goes into the
 * runtime each time, which a profile of -p 1 showed costing more than the comparison.
 */
let viewedA: Buffer | undefined;
let viewA: DataView | undefined;
let viewedB: Buffer | undefined;
let viewB: DataView | undefined;
function dataViewOf(buffer: Buffer): DataView {
  if (buffer === viewedA) return viewA!;
  if (buffer === viewedB) return viewB!;
  viewedB = viewedA;
  viewB = viewA;
  viewedA = buffer;
  return (viewA = new DataView(buffer.buffer, buffer.byteOffset, buffer.length));
}
