/**
 * The run's message, as every pattern that sends one sees it: --message compiled (a template), or
 * the payload, stamped with the connection's number; rendered, counted and sent.
 */
import type { BlastCounters } from '../../metrics/blast-counters.js';
import type { MessageTemplate } from '../../message/template.js';
import type { WsConnection } from '../ws-connection.js';

/** '0'-'9', 'a'-'f' as bytes: the connection stamp's digits. */
const HEX_DIGITS = Buffer.from('0123456789abcdef');

export class Outgoing {
  /**
   * `template`: --message, compiled; undefined sends `payload`. `stampConnection`: the payload's
   * first 8 bytes become the connection's number (see stamp).
   */
  constructor(
    readonly template: MessageTemplate | undefined,
    readonly payload: Buffer,
    readonly opcode: number,
    readonly stampConnection: boolean,
    readonly workerIndex: number,
    readonly counters: BlastCounters,
    readonly rowOf: (connection: WsConnection) => readonly string[] | undefined,
  ) {
    this.fixedMessage = template ? template.constant : payload;
  }

  /** The message every send carries, when it is the same every time (no template, or one without placeholders). */
  readonly fixedMessage: Buffer | undefined;

  /**
   * With the default payload, its first 8 bytes become this connection's number in hex: stamped in
   * place (one process, one thread) before the payload is sent or compared with an echo, so the same
   * buffer serves every connection and a message costs eight byte writes.
   */
  stamp(connection: WsConnection): void {
    if (!this.stampConnection) return;
    const payload = this.payload;
    let index = connection.index;
    for (let i = 7; i >= 0; i--) {
      payload[i] = HEX_DIGITS[index & 15]!;
      index >>>= 4;
    }
  }

  /** The connection's next message (number connection.sent + 1). */
  next(connection: WsConnection): Buffer {
    const template = this.template;
    if (!template) {
      this.stamp(connection);
      return this.payload;
    }
    return template.render({ seq: connection.sent + 1, conn: connection.index, worker: this.workerIndex, data: this.rowOf(connection) });
  }

  /** Send `message` on the connection, counted as sent. */
  send(connection: WsConnection, message: Buffer): void {
    connection.sent++;
    const counters = this.counters;
    counters.messagesSent++;
    counters.bytesSent += message.length;
    connection.send(message, this.opcode);
  }
}
