/**
 * Fire-and-forget (--fire-and-forget) and flood (--flood): messages go out without waiting for
 * answers, at --rate (the open loop) or, without it, as fast as each socket takes them. Whatever
 * comes back is counted; with --flood, each echo is timed from the {{now_us}} it carries, and the
 * shortfall of echoes against sends at the end is what went unanswered.
 */
import { frameHeaderLength, writeFrameHeader } from '../../protocol/frame-codec.js';
import { monotonicNowUs, monotonicUs } from '../../message/template.js';
import type { WsConnection } from '../ws-connection.js';
import { OneWayPattern } from './one-way.js';
import type { Paced } from './pacer.js';
import type { PatternHost } from './pattern.js';

/** Flood: messages a connection sends per turn of the event loop at most, and their bytes at most (one message at least). */
const FLOOD_BURST = 64;
const FLOOD_BURST_BYTES = 64 * 1024;

class FireState implements Paced {
  timer: NodeJS.Timeout | undefined = undefined;
  /** Flood: a refill is scheduled. */
  queued = false;
}

export class FirePattern extends OneWayPattern {
  /** No --rate: keep each socket full. */
  readonly #flood: boolean;

  constructor(host: PatternHost) {
    super(host);
    this.#flood = host.options.rate === undefined;
  }

  start(connection: WsConnection): void {
    connection.pattern ??= new FireState();
    const rate = this.host.options.rate;
    if (rate === undefined) this.#fill(connection);
    else if (rate > 0) this.pacer.start(connection, rate);
  }

  intervalMs(): number {
    return this.host.intervalMs;
  }

  protected sends(_connection: WsConnection): boolean {
    return true;
  }

  message(_connection: WsConnection, payload: Buffer): void {
    const host = this.host;
    host.arrived();
    host.counters.messagesReceived++;
    host.counters.bytesReceived += payload.length;
    if (!host.options.flood) return;
    const sentUs = host.outgoing.template!.timestampOf(payload);
    if (sentUs !== undefined) host.recordUs(monotonicNowUs() - sentUs);
  }

  override drained(connection: WsConnection): void {
    const fire = connection.pattern as FireState | undefined;
    if (this.#flood && fire && !fire.queued && this.host.trafficFlows) this.#fill(connection);
  }

  override stopped(): void {
    // --flood: echoes expected, but not paired with sends: the shortfall is what went unanswered.
    if (!this.host.options.flood) return;
    const counters = this.host.counters;
    counters.unanswered = Math.max(0, counters.messagesSent - counters.messagesReceived);
  }

  /**
   * Flood: keep the socket full. A connection sends a burst of up to FLOOD_BURST messages a turn
   * while its socket holds under WRITE_HIGH_WATER_BYTES unsent; the socket's drain, or the next
   * turn, refills it. So it queues at most that plus one burst.
   *
   * A burst is built in one buffer and written at once: each message is rendered in place, framed and
   * masked where it lies (its own masking key), so a message costs no string, no Buffer and no write
   * call of its own. The messages of a burst carry one {{now_us}}, the time of the write that hands
   * them all to the socket together.
   */
  #fill(connection: WsConnection): void {
    const fire = connection.pattern as FireState;
    fire.queued = false;
    const host = this.host;
    if (host.stopping || host.quiescing || connection.state !== 'open') return;
    if (connection.full) return; // 'drain' calls back
    const quota = host.options.messages;
    // --fire-and-forget without --message floods its payload; --flood, its {{now_us}} template.
    const outgoing = host.outgoing;
    const template = outgoing.template;
    const payload = outgoing.payload;
    if (!template) outgoing.stamp(connection);
    const maxBytes = template ? template.maxBytes : payload.length;
    // Room for the longest message and its header; a shorter one's header may be shorter, and the
    // message is moved up to meet it (never, with messages under 126 bytes).
    const roomHeader = frameHeaderLength(maxBytes, true);
    const perBurst = Math.max(1, Math.min(FLOOD_BURST, Math.floor(FLOOD_BURST_BYTES / (roomHeader + maxBytes))));
    const count = quota === undefined ? perBurst : Math.min(perBurst, quota - connection.sent);
    if (count <= 0) return;
    const burst = Buffer.allocUnsafe(count * (roomHeader + maxBytes));
    const context = this.#context;
    context.conn = connection.index;
    context.worker = host.options.index;
    context.data = host.rowOf(connection);
    const nowUs = monotonicUs();
    const counters = host.counters;
    const opcode = outgoing.opcode;
    let at = 0;
    for (let i = 0; i < count; i++) {
      context.seq = connection.sent + 1;
      const length = template ? template.writeInto(burst, at + roomHeader, context, nowUs) : payload.copy(burst, at + roomHeader);
      const header = frameHeaderLength(length, true);
      if (header < roomHeader) burst.copyWithin(at + header, at + roomHeader, at + roomHeader + length);
      writeFrameHeader(burst, at, length, opcode, true);
      at += header + length;
      connection.sent++;
      counters.bytesSent += length;
    }
    counters.messagesSent += count;
    connection.sendFrames(burst.subarray(0, at));
    fire.queued = true;
    this.#queue.push(connection);
    if (this.#queue.length === 1) setImmediate(this.#onTurn);
  }

  /** The flood's template context, reused for every message it renders. */
  readonly #context: { seq: number; conn: number; worker: number; data: readonly string[] | undefined } = { seq: 0, conn: 0, worker: 0, data: undefined };
  readonly #queue: WsConnection[] = [];
  readonly #onTurn = () => {
    const queue = this.#queue.splice(0);
    for (const connection of queue) this.#fill(connection);
  };
}
