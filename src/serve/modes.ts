/**
 * serve's modes other than echo, as message handlers on serve's own connections
 * (server-connection.ts): the connection does the framing, control frames, UTF-8 checks, the close
 * handshake, backpressure, compression, the heartbeat and shutdown, for every mode alike; a mode
 * says only what a complete message means. Echo is the connection's own answer (no handler: its
 * hot path has no call to make); for `--mode reply` or `--mode broadcast` the EchoServer gives its
 * connections the ModeHandler made here.
 *
 * reply: each message is a JSON request; the answer is one text message
 *   {"jsonrpc":"2.0","id":<the request's id>,"result":<its params, or the whole request if it has none>}
 * and a message that is not JSON, or not an object with a string or number `id`, is answered
 *   {"jsonrpc":"2.0","id":null,"error":{"code":-32700|-32600,"message":…}}
 * and counted (badMessages). Every message gets exactly one answer, so a load generator can match
 * answers to requests by id and count both (JSON-RPC would stay silent for a notification; we answer).
 *
 * broadcast: each message goes, unchanged (same opcode, same bytes), to every other member of its
 * sender's room, in every server process; the sender never gets its own. A connection is in one room
 * at a time: the one named by `?room=<r>` on its URL, or else the next of 0..rooms-1 in the order this
 * process accepted it. With more than one room, a message that is a JSON object with a `room` field
 * (an integer 0..rooms-1, or its decimal string) first moves its sender into that room, then goes to
 * that room; a `room` outside that range drops the message (badMessages). With one room nothing is
 * parsed.
 *
 * Cost and bound of broadcast: one message costs one frame encoding per process and one write per
 * subscriber (the same Buffer for all; with --compress, one compression per subscriber, each with
 * its own context), so out = in × (room members - 1). A subscriber whose unsent
 * bytes pass --subscriber-buffer after a write is closed with 1008 and counted: it never pauses the
 * publisher or the room, and holds at most its bound plus one message (with --compress too: each
 * compression is synchronous, so its frame is written before the check). With workers, each message also crosses IPC
 * twice (worker → primary → every other worker) as JSON text.
 */
import type { IncomingMessage } from 'node:http';
import type { ServeConfig } from '../config/serve-config.js';
import { RELAY_BACKLOG_BYTES, type RelayedBroadcast } from '../ipc/serve-messages.js';
import type { ServeCounters } from '../metrics/serve-stats.js';
import { encodeFrame, Opcode } from '../protocol/frame-codec.js';
import type { MessageHandler, ServerConnection } from './server-connection.js';

/** What EchoServer hands its connections for a mode other than echo. */
export interface ModeHandler {
  /** What a complete message means (one shared function: no closure per connection). */
  readonly onMessage: MessageHandler;
  /** Checked before a slot is taken: an upgrade this mode cannot serve is answered 400. */
  refusesUpgrade(req: IncomingMessage): boolean;
  /** A connection is open; nothing has been read from it yet. */
  onOpen(connection: ServerConnection, req: IncomingMessage): void;
  /** A connection has ended. */
  onClose(connection: ServerConnection): void;
  /** Broadcast: a message published in another server process. */
  deliverRelayed(message: RelayedBroadcast): void;
}

/**
 * Hands a broadcast to the other server processes (through the primary); `sent` is called once the
 * message has left this process, which is how the relay's backlog is measured.
 */
export type RelayOut = (message: RelayedBroadcast, sent: () => void) => void;

export function modeHandler(config: ServeConfig, counters: ServeCounters, relay: RelayOut | undefined): ModeHandler | undefined {
  if (config.mode === 'reply') return new Reply(counters);
  if (config.mode === 'broadcast') return new Broadcast(config, counters, relay);
  return undefined;
}

class Reply implements ModeHandler {
  readonly onMessage: MessageHandler;

  constructor(counters: ServeCounters) {
    // A requester that does not read its answers stops being read, as echo's does: the connection's
    // own backpressure (ECHO_HIGH_WATER_BYTES in server-connection.ts).
    this.onMessage = function reply(connection: ServerConnection, request: Buffer) {
      const answer = replyFor(request);
      if (!answer.ok) counters.badMessages++;
      const payload = Buffer.from(answer.text);
      if (!connection.send(payload, false)) return;
      counters.messagesOut++;
      counters.bytesOut += payload.length;
    };
  }

  refusesUpgrade(): boolean {
    return false;
  }

  onOpen(): void {}

  onClose(): void {}

  deliverRelayed(): void {}
}

const PARSE_ERROR = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the message is not JSON' } });
const INVALID_REQUEST = JSON.stringify({
  jsonrpc: '2.0',
  id: null,
  error: { code: -32600, message: 'Invalid Request: expected a JSON object with an id (string or number)' },
});

/** The answer to one reply-mode request (JSON-RPC 2.0 shape); ok is false for an error answer. */
export function replyFor(request: Buffer): { text: string; ok: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.toString('utf8'));
  } catch {
    return { text: PARSE_ERROR, ok: false };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { text: INVALID_REQUEST, ok: false };
  const { id } = parsed as { id?: unknown };
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) return { text: INVALID_REQUEST, ok: false };
  const result = 'params' in parsed ? (parsed as { params: unknown }).params : parsed;
  return { text: JSON.stringify({ jsonrpc: '2.0', id, result }), ok: true };
}

/** A broadcast connection's slot: its room, or NO_ROOM once dropped as a slow subscriber. */
const NO_ROOM = -1;

class Broadcast implements ModeHandler {
  readonly onMessage: MessageHandler;
  readonly #counters: ServeCounters;
  readonly #rooms: number;
  readonly #subscriberBufferBytes: number;
  readonly #relay: RelayOut | undefined;
  /** Members of each room in this process; a room's Set is made when someone first joins it. */
  readonly #members: (Set<ServerConnection> | undefined)[];
  #nextRoom = 0;
  /** Relay text handed to the channel and not yet sent, and the publishers paused until it halves. */
  #relayBacklogBytes = 0;
  readonly #pausedPublishers = new Set<ServerConnection>();

  constructor(config: ServeConfig, counters: ServeCounters, relay: RelayOut | undefined) {
    this.#counters = counters;
    this.#rooms = config.rooms;
    this.#subscriberBufferBytes = config.subscriberBufferBytes;
    this.#relay = relay;
    this.#members = new Array(config.rooms);
    this.onMessage = (connection, payload, binary) => this.#publish(connection, payload, binary);
  }

  refusesUpgrade(req: IncomingMessage): boolean {
    const asked = roomQuery(req.url);
    return asked !== undefined && roomNumber(asked, this.#rooms) === undefined;
  }

  onOpen(connection: ServerConnection, req: IncomingMessage): void {
    const asked = roomQuery(req.url);
    let room = asked === undefined ? undefined : roomNumber(asked, this.#rooms);
    if (room === undefined) {
      room = this.#nextRoom;
      this.#nextRoom = (this.#nextRoom + 1) % this.#rooms;
    }
    this.#join(connection, room);
  }

  onClose(connection: ServerConnection): void {
    this.#leave(connection);
    this.#pausedPublishers.delete(connection);
  }

  deliverRelayed(message: RelayedBroadcast): void {
    this.#counters.relayedIn++;
    if (!this.#members[message.room]?.size) return;
    this.#fanOut(message.room, Buffer.from(message.data, message.binary ? 'base64' : 'utf8'), message.binary, undefined);
  }

  #publish(publisher: ServerConnection, payload: Buffer, binary: boolean): void {
    let room = publisher.slot as number;
    // Not a member: dropped as a slow subscriber and closing. What it still sends goes nowhere.
    if (room === NO_ROOM) return;
    if (this.#rooms > 1) {
      const named = roomField(payload);
      if (named !== undefined) {
        const asked = roomNumber(named, this.#rooms);
        if (asked === undefined) {
          this.#counters.badMessages++;
          return;
        }
        if (asked !== room) {
          this.#leave(publisher);
          this.#join(publisher, asked);
          room = asked;
        }
      }
    }
    this.#fanOut(room, payload, binary, publisher);
    if (this.#relay) this.#relayOut(publisher, room, payload, binary);
  }

  /** One frame for every subscriber: encoded once, the same Buffer written to each socket. */
  #fanOut(room: number, payload: Buffer, binary: boolean, publisher: ServerConnection | undefined): void {
    const members = this.#members[room];
    if (!members || members.size === 0 || (members.size === 1 && publisher !== undefined && members.has(publisher))) return;
    const counters = this.#counters;
    const frame = encodeFrame(payload, binary ? Opcode.binary : Opcode.text, false);
    for (const subscriber of members) {
      if (subscriber === publisher) continue;
      const unsent = subscriber.sendFrame(frame, payload, binary);
      if (unsent < 0) continue;
      counters.messagesOut++;
      counters.bytesOut += payload.length;
      if (unsent > this.#subscriberBufferBytes) this.#dropSlow(subscriber);
    }
  }

  /**
   * A subscriber that does not read as fast as its room publishes: out of the room at once, so
   * nothing more is written to it, and closed with 1008 behind what it already has queued. If it
   * never reads that either, the connection cuts it when its close handshake times out.
   */
  #dropSlow(subscriber: ServerConnection): void {
    this.#leave(subscriber);
    this.#counters.slowSubscribersDropped++;
    subscriber.close(1008, 'too slow: unsent messages passed the server --subscriber-buffer');
  }

  #relayOut(publisher: ServerConnection, room: number, payload: Buffer, binary: boolean): void {
    const data = payload.toString(binary ? 'base64' : 'utf8');
    const bytes = data.length;
    this.#relayBacklogBytes += bytes;
    this.#relay!({ t: 'broadcast', room, binary, data }, () => {
      this.#relayBacklogBytes -= bytes;
      if (this.#relayBacklogBytes <= RELAY_BACKLOG_BYTES / 2 && this.#pausedPublishers.size > 0) {
        for (const paused of this.#pausedPublishers) paused.resumeReading();
        this.#pausedPublishers.clear();
      }
    });
    if (this.#relayBacklogBytes > RELAY_BACKLOG_BYTES && !this.#pausedPublishers.has(publisher)) {
      publisher.pauseReading();
      this.#pausedPublishers.add(publisher);
    }
  }

  #join(connection: ServerConnection, room: number): void {
    connection.slot = room;
    (this.#members[room] ??= new Set()).add(connection);
  }

  #leave(connection: ServerConnection): void {
    const room = connection.slot as number;
    if (room === NO_ROOM || room === undefined) return;
    connection.slot = NO_ROOM;
    this.#members[room]!.delete(connection);
  }
}

/** `?room=` on the upgrade URL, if there. */
function roomQuery(url: string | undefined): string | undefined {
  const query = url?.indexOf('?') ?? -1;
  if (query === -1) return undefined;
  return new URLSearchParams(url!.slice(query + 1)).get('room') ?? undefined;
}

/** The `room` field of a message that is a JSON object; undefined when it has none (or is not JSON). */
function roomField(payload: Buffer): unknown {
  // Most payloads are not a JSON object naming a room: skip the parse for them.
  if (payload.indexOf('"room"') === -1) return undefined;
  try {
    const parsed: unknown = JSON.parse(payload.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as { room?: unknown }).room : undefined;
  } catch {
    return undefined;
  }
}

/** A room number 0..rooms-1, from a number or its decimal string; undefined if it is not one. */
function roomNumber(value: unknown, rooms: number): number | undefined {
  const room = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(room) && room >= 0 && room < rooms ? room : undefined;
}
