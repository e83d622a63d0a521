/**
 * GraphQL over WebSocket, the graphql-transport-ws protocol of the graphql-ws library
 * (--protocol graphql-ws; the subprotocol is asked for by default). Per connection:
 *
 * - `connection_init` (with --graphql-init as its payload) goes at the upgrade; `connection_ack` is
 *   the second handshake, timed from the upgrade;
 * - then -p subscriptions at once (default 1), each `subscribe` {id, payload: {query, variables,
 *   operationName}}; when one ends (`complete` or `error`) the next takes its place, until the run
 *   ends or the connection has run --messages subscriptions;
 * - each `next` is a delivery, timed from the previous event of its subscription (the first, from
 *   the subscribe): the round-trip histogram holds the gaps a subscriber waits;
 * - `error` and `complete` are counted; `ping` is answered with `pong`;
 * - the server's close codes (4400 bad request, 4401 unauthorized, 4403 forbidden, 4408 init timeout,
 *   4409 subscriber exists, 4429 too many inits, 4500 internal error) are counted by reason.
 *
 * Not supported: the older subscriptions-transport-ws protocol (graphql-ws subprotocol), lazy
 * connections (init is sent at once), and retries of the client library (use --reconnect).
 */
import { performance } from 'node:perf_hooks';
import type { WsConnection } from '../blast/ws-connection.js';
import type { GraphqlSettings } from '../config/protocol-config.js';
import { MessageTemplate } from '../message/template.js';
import { RenderContext, type ProtocolHost, type ProtocolRunner } from './types.js';

/** graphql-ws's close codes (its CloseCode enum), by code. */
export const GRAPHQL_CLOSE_REASONS: Readonly<Record<number, string>> = {
  4400: 'bad request',
  4401: 'unauthorized',
  4403: 'forbidden',
  4406: 'subprotocol not acceptable',
  4408: 'connection initialisation timeout',
  4409: 'subscriber already exists',
  4429: 'too many initialisation requests',
  4499: 'terminated',
  4500: 'internal server error',
};

const enum Phase {
  initialising,
  acked,
  over,
}

export interface GraphqlRunnerOptions {
  readonly settings: GraphqlSettings;
  /** Subscriptions at once per connection. */
  readonly pipeline: number;
  /** Subscriptions per connection in all; undefined: until the run ends. */
  readonly messages: number | undefined;
}

/** One connection's state (WsConnection.pattern). */
class GraphqlState {
  phase = Phase.initialising;
  wanted = false;
  openedAt = 0;
  /** Subscriptions started so far (each one's id is `slot.round`). */
  started = 0;
  ended = 0;
  /** By slot: when its subscription's last event came (or it was sent); NaN: the slot is free. */
  lastAt: Float64Array;
  done = false;
  constructor(slots: number) {
    this.lastAt = new Float64Array(slots).fill(Number.NaN);
  }
}

interface ServerMessage {
  id?: unknown;
  type?: unknown;
}

export class GraphqlWsRunner implements ProtocolRunner {
  readonly #host: ProtocolHost;
  readonly #options: GraphqlRunnerOptions;
  readonly #init: MessageTemplate | Buffer;
  /** The subscribe message up to its id; the id goes after it, then `"}`. */
  readonly #subscribeHead: MessageTemplate;
  readonly #context: RenderContext;

  constructor(options: GraphqlRunnerOptions, host: ProtocolHost) {
    this.#host = host;
    this.#context = new RenderContext(host);
    this.#options = options;
    const { init, query, variables, operationName } = options.settings;
    this.#init = init === undefined ? Buffer.from('{"type":"connection_init"}') : new MessageTemplate(`{"type":"connection_init","payload":${init}}`, '--graphql-init', host.data);
    const payload = `{"query":${JSON.stringify(query)}${variables === undefined ? '' : `,"variables":${variables}`}${operationName === undefined ? '' : `,"operationName":${JSON.stringify(operationName)}`}}`;
    this.#subscribeHead = new MessageTemplate(`{"type":"subscribe","payload":${payload},"id":"`, '--graphql-variables', host.data);
  }

  opened(connection: WsConnection): void {
    const state = new GraphqlState(this.#options.pipeline);
    state.openedAt = performance.now();
    connection.pattern = state;
    this.#host.control(connection, this.#init instanceof MessageTemplate ? this.#init.render(this.#context.of(connection, 0)) : this.#init);
  }

  start(connection: WsConnection): void {
    const state = connection.pattern as GraphqlState | undefined;
    if (!state) return;
    state.wanted = true;
    if (state.phase === Phase.acked) this.#fill(connection, state);
  }

  message(connection: WsConnection, payload: Buffer, binary: boolean): void {
    const state = connection.pattern as GraphqlState | undefined;
    const host = this.#host;
    let message: ServerMessage;
    try {
      message = binary ? {} : (JSON.parse(payload.toString('utf8')) as ServerMessage);
    } catch {
      message = {};
    }
    if (!state || message === null || typeof message !== 'object') {
      host.housekeeping(connection, payload.length);
      host.count('invalid');
      return;
    }
    switch (message.type) {
      case 'next': {
        const slot = this.#slotOf(state, message.id);
        host.count('next');
        if (slot === undefined) return host.housekeeping(connection, payload.length);
        const now = performance.now();
        host.delivered(connection, payload.length, (now - state.lastAt[slot]!) * 1000);
        state.lastAt[slot] = now;
        return;
      }
      case 'error':
      case 'complete': {
        host.housekeeping(connection, payload.length);
        host.count(message.type);
        const slot = this.#slotOf(state, message.id);
        if (slot === undefined) return;
        state.lastAt[slot] = Number.NaN;
        state.ended++;
        const quota = this.#options.messages;
        if (quota !== undefined && state.ended === quota) {
          state.done = true;
          host.quotaDone(connection);
        }
        if (state.wanted) this.#fill(connection, state);
        return;
      }
      case 'ping':
        host.housekeeping(connection, payload.length);
        host.count('pings');
        host.control(connection, PONG);
        return;
      case 'pong':
        host.housekeeping(connection, payload.length);
        host.count('pongs');
        return;
      case 'connection_ack':
        host.housekeeping(connection, payload.length);
        if (state.phase !== Phase.initialising) return;
        state.phase = Phase.acked;
        host.count('acked');
        host.handshaken(connection, (performance.now() - state.openedAt) * 1000);
        if (state.wanted) this.#fill(connection, state);
        return;
      default:
        host.housekeeping(connection, payload.length);
        host.count('invalid');
        return;
    }
  }

  drained(connection: WsConnection): void {
    const state = connection.pattern as GraphqlState | undefined;
    if (state?.wanted && state.phase === Phase.acked) this.#fill(connection, state);
  }

  finished(connection: WsConnection): boolean {
    return (connection.pattern as GraphqlState | undefined)?.done ?? false;
  }

  stop(connection: WsConnection): void {
    const state = connection.pattern as GraphqlState | undefined;
    if (state) state.wanted = false;
  }

  closed(connection: WsConnection, code: number, closedByUs: boolean): void {
    const state = connection.pattern as GraphqlState | undefined;
    if (!state) return;
    state.wanted = false;
    state.phase = Phase.over;
    if (closedByUs) return;
    const reason = GRAPHQL_CLOSE_REASONS[code];
    this.#host.reason(reason === undefined ? `close ${code}` : `close ${code} ${reason}`);
  }

  leave(): void {
    // The client library closes with 1000 and nothing before it: so does blast.
  }

  /** Subscribe in every free slot while the quota and the socket allow. */
  #fill(connection: WsConnection, state: GraphqlState): void {
    const quota = this.#options.messages;
    const slots = state.lastAt;
    for (let slot = 0; slot < slots.length; slot++) {
      if (!Number.isNaN(slots[slot]!)) continue;
      if ((quota !== undefined && state.started >= quota) || connection.full || !this.#host.sending()) return;
      const round = state.started++;
      const head = this.#subscribeHead.render(this.#context.of(connection, round + 1));
      const id = `${slot}.${round}"}`;
      const message = Buffer.allocUnsafe(head.length + id.length);
      head.copy(message, 0);
      message.write(id, head.length, 'latin1');
      slots[slot] = performance.now();
      this.#host.count('subscribes');
      this.#host.send(connection, message);
    }
  }

  /** The slot of a subscription id `slot.round`, when that subscription is active. */
  #slotOf(state: GraphqlState, id: unknown): number | undefined {
    if (typeof id !== 'string') return undefined;
    const slot = Number.parseInt(id, 10);
    return slot >= 0 && slot < state.lastAt.length && !Number.isNaN(state.lastAt[slot]!) ? slot : undefined;
  }

}

const PONG = Buffer.from('{"type":"pong"}');
