/**
 * Subscribe/publish (--subscribe, --publishers): every connection sends --subscribe once after its
 * upgrade, then listens; the publishers among them publish at --rate (one a second without it).
 * Every message received is a delivery, timed from the {{now_us}} its publisher put in it; one
 * whose timestamp is among the connection's last RECENT_DELIVERIES is counted as a duplicate.
 */
import { monotonicNowUs, type MessageTemplate } from '../../message/template.js';
import type { WsConnection } from '../ws-connection.js';
import { OneWayPattern } from './one-way.js';
import type { Paced } from './pacer.js';
import type { PatternHost } from './pattern.js';

/** A delivery whose timestamp is one of the connection's last this many is a duplicate. */
const RECENT_DELIVERIES = 16;

class SubscribeState implements Paced {
  /** The timestamps of the last messages received, to find duplicates; `recentAt` is the next slot. */
  recent: Float64Array | undefined = undefined;
  recentAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
}

export class SubscribePattern extends OneWayPattern {
  readonly #subscribe: MessageTemplate | undefined;

  /** `subscribe`: --subscribe, compiled. */
  constructor(host: PatternHost, subscribe: MessageTemplate | undefined) {
    super(host);
    this.#subscribe = subscribe;
  }

  override opened(connection: WsConnection): void {
    if (!this.#subscribe) return;
    const host = this.host;
    const message = this.#subscribe.render({ seq: 0, conn: connection.index, worker: host.options.index, data: host.rowOf(connection) });
    host.counters.subscribed++;
    connection.send(message, host.outgoing.opcode);
  }

  start(connection: WsConnection): void {
    // Only publishers send; at --rate, or one message a second when no rate is given (--rate 0: none).
    const publishRate = this.host.options.rate ?? 1;
    if (!connection.publisher || publishRate <= 0) return;
    state(connection);
    this.pacer.start(connection, publishRate);
  }

  intervalMs(): number {
    return 1000 / (this.host.options.rate || 1);
  }

  protected sends(connection: WsConnection): boolean {
    return connection.publisher;
  }

  message(connection: WsConnection, payload: Buffer): void {
    const host = this.host;
    const counters = host.counters;
    host.arrived();
    connection.received++;
    counters.messagesReceived++;
    counters.bytesReceived += payload.length;
    const sentUs = host.outgoing.template?.timestampOf(payload);
    if (sentUs === undefined) return;
    const delivery = state(connection);
    const recent = (delivery.recent ??= new Float64Array(RECENT_DELIVERIES));
    if (recent.includes(sentUs)) {
      counters.duplicates++;
      return;
    }
    counters.delivered++;
    recent[delivery.recentAt] = sentUs;
    delivery.recentAt = (delivery.recentAt + 1) % RECENT_DELIVERIES;
    host.recordUs(monotonicNowUs() - sentUs);
  }
}

function state(connection: WsConnection): SubscribeState {
  let subscribe = connection.pattern as SubscribeState | undefined;
  if (!subscribe) connection.pattern = subscribe = new SubscribeState();
  return subscribe;
}
