/**
 * Socket.IO v4 over Engine.IO v4, WebSocket transport only (--protocol socketio). Per connection:
 *
 * - the server's open packet `0{"sid",…,"pingInterval","pingTimeout"}` is answered with the namespace
 *   connect `40` (`40/nsp,` for another namespace; with --socketio-auth, `40{auth}`);
 * - `40{"sid":…}` is the namespace connected: the second handshake, timed from the upgrade;
 *   `44{"message":…}` is connect_error: counted with its message, and the connection closed;
 * - every ping `2` is answered with a pong `3`;
 * - echo (the default): emits `42N["event",…args]` with ack id N, closed loop (-p N in flight) or at
 *   --rate (timed from the intended send); the ack `43N[…]` is the round trip;
 * - fire (--fire-and-forget): emits with no ack, at --rate or as fast as the socket drains;
 * - subscribe: --subscribe (a JSON array: event and arguments) is emitted once; every event the
 *   server sends is a delivery, timed when it carries a publisher's {{now_us}} (--publishers emit
 *   --message at --rate, with no ack);
 * - a server's `41` (namespace disconnect) is counted and the connection closed; at the end blast sends
 *   `41` before it closes, as the client's socket.disconnect() does (counted as connectedAtEnd).
 *
 * Not supported: the polling transport and upgrades, binary attachments (`45`/`46` are counted as
 * unsupported and not parsed), the client's own ping-timeout check, and connection-state recovery.
 * Events the server emits with an ack request are acknowledged with no arguments.
 */
import { performance } from 'node:perf_hooks';
import type { WsConnection } from '../blast/ws-connection.js';
import type { SocketIoSettings } from '../config/protocol-config.js';
import { MessageTemplate, monotonicNowUs } from '../message/template.js';
import { RenderContext, type ProtocolHost, type ProtocolRunner } from './types.js';

/** Acks a connection waits for at most; a paced connection holds further emits past it. */
const MAX_ACKS_OUTSTANDING = 4096;
/** Fire without --rate: emits a connection sends per turn of the event loop at most. */
const EMIT_BURST = 64;

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const SLASH = 0x2f;
const COMMA = 0x2c;

const enum Phase {
  /** Upgraded; waiting for the Engine.IO open packet. */
  opening,
  /** Namespace connect sent; waiting for its answer. */
  connecting,
  connected,
  /** connect_error, a server disconnect, or closed: nothing more. */
  over,
}

export interface SocketIoRunnerOptions {
  readonly settings: SocketIoSettings;
  readonly pattern: 'echo' | 'fire' | 'subscribe';
  readonly rate: number | undefined;
  readonly pipeline: number;
  readonly messages: number | undefined;
  /** subscribe: the event (JSON array) emitted once after the namespace connect. */
  readonly subscribe: string | undefined;
}

/** One connection's state (WsConnection.pattern). */
class SocketState {
  phase = Phase.opening;
  /** The run's traffic may start once connected. */
  wanted = false;
  openedAt = 0;
  /** The next ack id. */
  nextAck = 0;
  /** The oldest ack id that may be outstanding. */
  oldestAck = 0;
  outstanding = 0;
  /** Send times (performance.now()) by ack id modulo its length; NaN: answered. */
  sentAt: Float64Array | undefined;
  /** Paced: when the next emit falls due. */
  dueAt = 0;
  timer: NodeJS.Timeout | undefined;
  queued = false;
  acked = 0;
  done = false;
}

export class SocketIoRunner implements ProtocolRunner {
  readonly #host: ProtocolHost;
  readonly #options: SocketIoRunnerOptions;
  readonly #args: MessageTemplate;
  /** `42` and the namespace's `/nsp,` when it is not the main one. */
  readonly #emitPrefix: Buffer;
  /** `["event",` */
  readonly #eventHead: Buffer;
  readonly #connectPacket: MessageTemplate | Buffer;
  readonly #disconnectPacket: Buffer;
  readonly #subscribePacket: MessageTemplate | undefined;
  /** `/nsp,` of packets the server sends on another namespace (empty for /). */
  readonly #namespacePrefix: Buffer;
  readonly #intervalMs: number;
  readonly #context: RenderContext;
  readonly #queue: WsConnection[] = [];

  constructor(options: SocketIoRunnerOptions, host: ProtocolHost) {
    this.#host = host;
    this.#context = new RenderContext(host);
    this.#options = options;
    const { namespace, auth, event, args } = options.settings;
    const nsp = namespace === '/' ? '' : `${namespace},`;
    this.#namespacePrefix = Buffer.from(nsp);
    this.#emitPrefix = Buffer.from(`42${nsp}`);
    this.#eventHead = Buffer.from(`[${JSON.stringify(event)}${args === '' ? '' : ','}`);
    this.#args = new MessageTemplate(`${args}]`, '--message', host.data);
    this.#connectPacket = auth === undefined ? Buffer.from(`40${nsp}`) : new MessageTemplate(`40${nsp}${auth}`, '--socketio-auth', host.data);
    this.#disconnectPacket = Buffer.from(`41${nsp}`);
    this.#subscribePacket = options.subscribe === undefined ? undefined : new MessageTemplate(`42${nsp}${options.subscribe}`, '--subscribe', host.data);
    this.#intervalMs = options.rate ? 1000 / options.rate : 0;
  }

  /** The template --message became: deliveries are timed from the {{now_us}} it carries. */
  get template(): MessageTemplate {
    return this.#args;
  }

  opened(connection: WsConnection): void {
    const state = new SocketState();
    state.openedAt = performance.now();
    connection.pattern = state;
  }

  start(connection: WsConnection): void {
    const state = connection.pattern as SocketState | undefined;
    if (!state) return;
    state.wanted = true;
    if (state.phase === Phase.connected) this.#begin(connection, state);
  }

  message(connection: WsConnection, payload: Buffer, binary: boolean): void {
    const state = connection.pattern as SocketState | undefined;
    const host = this.#host;
    if (!state || binary || payload.length === 0) {
      host.housekeeping(connection, payload.length);
      if (binary) host.count('unsupportedBinary');
      return;
    }
    switch (payload[0]) {
      case 0x32: // '2' ping
        host.housekeeping(connection, payload.length);
        host.count('pings');
        host.control(connection, PONG);
        return;
      case 0x34: // '4' a Socket.IO packet
        return this.#packet(connection, state, payload);
      case 0x30: // '0' open
        host.housekeeping(connection, payload.length);
        if (state.phase !== Phase.opening) return;
        state.phase = Phase.connecting;
        host.control(connection, this.#connectPacket instanceof MessageTemplate ? this.#connectPacket.render(this.#context.of(connection, 0)) : this.#connectPacket);
        return;
      case 0x31: // '1' close: the server closes the transport next
        host.housekeeping(connection, payload.length);
        host.count('engineCloses');
        return;
      default: // '6' noop and anything else
        host.housekeeping(connection, payload.length);
        return;
    }
  }

  #packet(connection: WsConnection, state: SocketState, payload: Buffer): void {
    const host = this.#host;
    const type = payload[1];
    // The namespace, when not the main one, follows the type: `/chat,`.
    let at = 2;
    if (payload[at] === SLASH) {
      const comma = payload.indexOf(COMMA, at);
      at = comma === -1 ? payload.length : comma + 1;
    }
    switch (type) {
      case 0x33: {
        // '3' ack: 43N[...]
        let id = 0;
        let digits = 0;
        for (; at < payload.length && payload[at]! >= CHAR_0 && payload[at]! <= CHAR_9; at++, digits++) id = id * 10 + payload[at]! - CHAR_0;
        const sentAt = digits > 0 ? this.#takeAck(state, id) : undefined;
        if (sentAt === undefined) {
          host.count('unmatchedAcks');
          host.housekeeping(connection, payload.length);
          return;
        }
        host.count('acks');
        state.acked++;
        host.answered(connection, payload.length, (performance.now() - sentAt) * 1000);
        const quota = this.#options.messages;
        if (quota !== undefined && state.acked === quota) {
          state.done = true;
          host.quotaDone(connection);
        }
        if (this.#intervalMs === 0 && state.phase === Phase.connected) this.#emitClosedLoop(connection, state);
        return;
      }
      case 0x32: {
        // '2' event: 42[...] or, asking for an ack, 42N[...]
        let id = -1;
        for (; at < payload.length && payload[at]! >= CHAR_0 && payload[at]! <= CHAR_9; at++) id = (id < 0 ? 0 : id * 10) + payload[at]! - CHAR_0;
        host.count('events');
        if (this.#options.pattern === 'subscribe') {
          const sentUs = this.#args.timestampOf(payload);
          host.delivered(connection, payload.length, sentUs === undefined ? undefined : monotonicNowUs() - sentUs);
        } else {
          host.housekeeping(connection, payload.length);
        }
        if (id >= 0) {
          host.count('acksSent');
          host.control(connection, Buffer.from(`43${this.#namespacePrefix.toString()}${id}[]`));
        }
        return;
      }
      case 0x30: // '0' namespace connected
        host.housekeeping(connection, payload.length);
        if (state.phase !== Phase.connecting) return;
        state.phase = Phase.connected;
        host.count('connected');
        host.handshaken(connection, (performance.now() - state.openedAt) * 1000);
        if (this.#subscribePacket) {
          host.count('subscribed');
          host.control(connection, this.#subscribePacket.render(this.#context.of(connection, 0)));
        }
        if (state.wanted) this.#begin(connection, state);
        return;
      case 0x34: // '4' connect_error {"message": …}
        host.housekeeping(connection, payload.length);
        host.count('connectErrors');
        host.reason(`connect_error: ${errorMessage(payload, at)}`);
        this.#end(state);
        host.close(connection, 1000);
        return;
      case 0x31: // '1' the server disconnected the namespace
        host.housekeeping(connection, payload.length);
        host.count('serverDisconnects');
        host.reason('server namespace disconnect');
        this.#end(state);
        host.close(connection, 1000);
        return;
      default: // '5' and '6': binary attachments
        host.housekeeping(connection, payload.length);
        host.count('unsupportedBinary');
        return;
    }
  }

  drained(connection: WsConnection): void {
    const state = connection.pattern as SocketState | undefined;
    if (!state || state.phase !== Phase.connected || !state.wanted) return;
    if (this.#intervalMs > 0) return; // its timer goes on
    if (this.#options.pattern === 'fire') this.#fire(connection, state);
    else if (this.#options.pattern === 'echo') this.#emitClosedLoop(connection, state);
  }

  finished(connection: WsConnection): boolean {
    return (connection.pattern as SocketState | undefined)?.done ?? false;
  }

  stop(connection: WsConnection): void {
    const state = connection.pattern as SocketState | undefined;
    if (!state) return;
    // Counted now, in the run's snapshot: at the close that follows, each says goodbye with a `41`.
    if (state.phase === Phase.connected) this.#host.count('connectedAtEnd');
    this.#halt(connection, state);
  }

  #halt(connection: WsConnection, state: SocketState): void {
    this.#recordOutstanding(connection, state);
    clearTimeout(state.timer);
    state.timer = undefined;
    state.wanted = false;
  }

  closed(connection: WsConnection, _code: number, closedByUs: boolean): void {
    const state = connection.pattern as SocketState | undefined;
    if (!state) return;
    // Closed while its namespace connect waited: neither connected nor refused.
    if (state.phase === Phase.connecting && !closedByUs) this.#host.count('closedWhileConnecting');
    this.#halt(connection, state);
    state.phase = Phase.over;
  }

  leave(connection: WsConnection): void {
    const state = connection.pattern as SocketState | undefined;
    if (state?.phase !== Phase.connected) return;
    this.#end(state);
    this.#host.control(connection, this.#disconnectPacket);
  }

  #end(state: SocketState): void {
    state.phase = Phase.over;
    state.wanted = false;
    clearTimeout(state.timer);
    state.timer = undefined;
  }

  #begin(connection: WsConnection, state: SocketState): void {
    const { pattern, rate, pipeline } = this.#options;
    if (pattern === 'subscribe') {
      // Publishers emit at --rate (one a second without one); the others only listen.
      const publishRate = rate ?? 1;
      if (connection.publisher && publishRate > 0) this.#startPaced(connection, state, 1000 / publishRate);
      return;
    }
    if (rate !== undefined) {
      if (rate > 0) this.#startPaced(connection, state, this.#intervalMs);
      return;
    }
    if (pattern === 'fire') return this.#fire(connection, state);
    for (let i = 0; i < pipeline; i++) this.#emitClosedLoop(connection, state);
  }

  #emitClosedLoop(connection: WsConnection, state: SocketState): void {
    if (state.outstanding >= this.#options.pipeline || connection.full) return;
    if (!this.#quotaLeft(connection)) return;
    this.#emit(connection, state, performance.now(), true);
  }

  #quotaLeft(connection: WsConnection): boolean {
    const quota = this.#options.messages;
    return quota === undefined || connection.sent < quota;
  }

  /** Fire without --rate: bursts while the socket takes them; its drain, or the next turn, goes on. */
  #fire(connection: WsConnection, state: SocketState): void {
    state.queued = false;
    for (let i = 0; i < EMIT_BURST; i++) {
      if (!this.#quotaLeft(connection) || state.phase !== Phase.connected) return;
      if (!this.#emit(connection, state, 0, false)) return; // the drain calls back
    }
    state.queued = true;
    this.#queue.push(connection);
    if (this.#queue.length === 1) setImmediate(this.#onTurn);
  }

  readonly #onTurn = (): void => {
    for (const connection of this.#queue.splice(0)) {
      const state = connection.pattern as SocketState;
      if (state.queued) this.#fire(connection, state);
    }
  };

  #startPaced(connection: WsConnection, state: SocketState, intervalMs: number): void {
    // The first emit at a random point of the first interval, so that connections do not emit in lockstep.
    state.dueAt = performance.now() + Math.random() * intervalMs;
    this.#paceTick(connection, state);
  }

  #paceTick(connection: WsConnection, state: SocketState): void {
    state.timer = undefined;
    if (state.phase !== Phase.connected || !state.wanted) return;
    const intervalMs = this.#options.pattern === 'subscribe' ? 1000 / (this.#options.rate || 1) : this.#intervalMs;
    const withAck = this.#options.pattern === 'echo';
    const now = performance.now();
    while (state.dueAt <= now && !connection.full && (!withAck || this.#ackRoom(state))) {
      if (!this.#quotaLeft(connection)) return;
      if (!this.#emit(connection, state, state.dueAt, withAck)) break;
      state.dueAt += intervalMs;
    }
    // Held back (acks outstanding, the socket not draining): due emits wait and are timed from when they were due.
    const late = state.dueAt <= now;
    state.timer = setTimeout(this.#onPaceTimer, late ? Math.max(1, intervalMs) : state.dueAt - now, connection);
  }

  readonly #onPaceTimer = (connection: WsConnection): void => {
    const state = connection.pattern as SocketState | undefined;
    if (state) this.#paceTick(connection, state);
  };

  /** One emit, with an ack id when `withAck` (its round trip from `dueAt`). Returns whether more may go now. */
  #emit(connection: WsConnection, state: SocketState, dueAt: number, withAck: boolean): boolean {
    if (!this.#host.sending()) return false;
    const context = this.#context.of(connection, connection.sent + 1);
    const body = this.#args.render(context);
    const prefix = this.#emitPrefix;
    const head = this.#eventHead;
    let idText = '';
    if (withAck) {
      const id = state.nextAck++;
      this.#holdAck(state, id, dueAt);
      idText = String(id);
    }
    const message = Buffer.allocUnsafe(prefix.length + idText.length + head.length + body.length);
    let at = prefix.copy(message, 0);
    at += message.write(idText, at, 'latin1');
    at += head.copy(message, at);
    body.copy(message, at);
    return this.#host.send(connection, message);
  }

  #ackRoom(state: SocketState): boolean {
    return state.nextAck - state.oldestAck < MAX_ACKS_OUTSTANDING;
  }

  /** Keep ack `id`'s send time: in a ring indexed by id, grown (by doubling) when the window passes it. */
  #holdAck(state: SocketState, id: number, at: number): void {
    let ring = state.sentAt;
    const span = id - state.oldestAck + 1;
    if (!ring || span > ring.length) {
      let length = ring ? ring.length : Math.max(2, this.#options.pipeline);
      while (length < span) length *= 2;
      const grown = new Float64Array(length).fill(Number.NaN);
      if (ring) for (let old = state.oldestAck; old < id; old++) grown[old % length] = ring[old % ring.length]!;
      state.sentAt = ring = grown;
    }
    ring[id % ring.length] = at;
    state.outstanding++;
  }

  /** The send time of ack `id`, when it is outstanding; it is no longer. */
  #takeAck(state: SocketState, id: number): number | undefined {
    const ring = state.sentAt;
    if (!ring || id < state.oldestAck || id >= state.nextAck) return undefined;
    const slot = id % ring.length;
    const at = ring[slot]!;
    if (Number.isNaN(at)) return undefined;
    ring[slot] = Number.NaN;
    state.outstanding--;
    while (state.oldestAck < state.nextAck && Number.isNaN(ring[state.oldestAck % ring.length]!)) state.oldestAck++;
    return at;
  }

  #recordOutstanding(connection: WsConnection, state: SocketState): void {
    const ring = state.sentAt;
    if (!ring || state.outstanding === 0) return;
    const now = performance.now();
    for (let id = state.oldestAck; id < state.nextAck; id++) {
      const at = ring[id % ring.length]!;
      if (Number.isNaN(at)) continue;
      ring[id % ring.length] = Number.NaN;
      this.#host.unanswered(connection, (now - at) * 1000);
    }
    state.outstanding = 0;
    state.oldestAck = state.nextAck;
  }

}

const PONG = Buffer.from('3');

/** connect_error's message (`{"message":"…"}` after the type and namespace), or the raw text. */
function errorMessage(payload: Buffer, at: number): string {
  const text = payload.toString('utf8', at);
  try {
    const value = JSON.parse(text) as { message?: unknown };
    if (typeof value?.message === 'string') return value.message.slice(0, 200);
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 200) || '(none)';
}

