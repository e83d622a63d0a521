/**
 * Request/response (--reply-id): a reply counts when the id found in it is that of a request
 * outstanding on its connection; its latency is the round trip from when the request was due.
 * A message with no such id is unmatched: counted, never timed. Closed loop or open loop (--rate).
 */
import { compileIdExtractor, type IdExtractor } from '../../message/reply-id.js';
import type { WsConnection } from '../ws-connection.js';
import type { Paced } from './pacer.js';
import type { PatternHost } from './pattern.js';
import { RoundTripPattern } from './round-trip.js';

class ReplyState implements Paced {
  /** The due times of the requests not yet answered, by id. */
  readonly pending = new Map<string, number>();
  timer: NodeJS.Timeout | undefined = undefined;
}

export class ReplyPattern extends RoundTripPattern {
  readonly #extractId: IdExtractor;

  constructor(host: PatternHost) {
    super(host);
    this.#extractId = compileIdExtractor(host.options.replyId!);
  }

  override opened(connection: WsConnection): void {
    connection.pattern = new ReplyState();
  }

  protected openLoopState(_connection: WsConnection): void {}

  sendDue(connection: WsConnection, dueAt: number): void {
    const outgoing = this.host.outgoing;
    const message = outgoing.next(connection);
    // An id the extractor cannot find (checked on the first message before the run) still gets an
    // entry, under the message number, so the request counts as unanswered.
    (connection.pattern as ReplyState).pending.set(this.#extractId(message) ?? `#${connection.sent + 1}`, dueAt);
    outgoing.send(connection, message);
  }

  outstanding(connection: WsConnection): number {
    return (connection.pattern as ReplyState).pending.size;
  }

  message(connection: WsConnection, payload: Buffer): void {
    const pending = (connection.pattern as ReplyState).pending;
    const id = this.#extractId(payload);
    const sentAt = id === undefined ? undefined : pending.get(id);
    if (sentAt === undefined) {
      this.host.counters.unmatched++;
      return;
    }
    pending.delete(id!);
    const now = performance.now();
    this.host.received(connection, payload.length, sentAt, now);
    if (this.closedLoop) this.sendClosedLoop(connection, now);
  }

  protected recordUnanswered(connection: WsConnection, endedAt: number): void {
    const pending = (connection.pattern as ReplyState | undefined)?.pending;
    if (!pending) return;
    for (const sentAt of pending.values()) this.recordAged(endedAt - sentAt);
    pending.clear();
  }
}
