/**
 * serve's WebSocket connection after the upgrade: RFC 6455 from the server's side, straight over
 * the upgraded net.Socket, on the shared frame codec (protocol/frame-codec.ts), instead of a ws
 * WebSocket with its stream Receiver and Sender.
 *
 * Why: on the echo path ws's Receiver (a Writable stream fed one 'data' Buffer per read) and the
 * write per echo cost most of serve's CPU per message, and WebSocket + Receiver + Sender and their
 * listeners most of its memory per connection (bench/serve-echo-vs-go, bench/serve-memory).
 * Here reads go into one buffer shared by the process (net's `onread`, as blast's client does), the
 * codec parses and unmasks in place, and every answer found in one read (echoes, pongs, a close)
 * leaves in one socket.write. Handlers are shared functions that find their connection through a
 * symbol on the socket: no closure per connection.
 *
 * What it answers, the same as ws's server with permessage-deflate off (test/serve-differential
 * sends the same bytes to both and compares):
 * - a text or binary message, its fragments reassembled up to maxPayload: echoed with its type as
 *   one unmasked frame (or handed to `onMessage` when one is given: serve's other modes);
 * - a ping: a pong with its payload; a pong: the heartbeat's answer;
 * - a close frame: the same close frame back (its code and reason; an empty one for none), then
 *   the TCP close; the frame code's refusals (1002, 1007, 1009): a close frame with that code, then
 *   the TCP close. Nothing after either is read. A peer that never closes its side is cut after
 *   CLOSE_TIMEOUT_MS, as ws's closeTimeout does;
 * - with permessage-deflate negotiated (serve --compress), compressed messages are inflated by the
 *   codec and every echo is compressed (as ws with threshold 0), each in one synchronous call
 *   (context takeover included), so frames leave in the order they are sent, as ws's Sender
 *   sends them, and nothing sent before the close frame or the TCP end is left behind;
 * - while closing (the server sent its close first, e.g. on shutdown), messages and pings are read
 *   and not answered, and the peer's close frame ends TCP.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { connect, createServer, Socket as NetSocket } from 'node:net';
import { forcedOff, off, on, until, type FastPathVerdict } from '../runtime/fast-paths.js';
import type { ServeCounters } from '../metrics/serve-stats.js';
import { encodeFrame, FrameParser, Opcode } from '../protocol/frame-codec.js';
import { DeflateCodec, type DeflateParams } from '../protocol/permessage-deflate.js';

/** RSV1 in a frame's first byte: the message is compressed (RFC 7692 6). */
const RSV1 = 0x40;

/** As ws's default closeTimeout: how long a closing handshake may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 30_000;
/**
 * Answers stop being read from a peer whose unsent bytes exceed this, until its socket drains. So
 * a peer that sends faster than it reads costs at most this plus one message (--max-payload) of
 * queued answers, besides the kernel's socket buffers; one that never drains stops answering pings
 * too, and the heartbeat closes it within two intervals.
 */
export const ECHO_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** The process's read buffer and answer buffer: one of each, shared by every connection. */
const READ_BUFFER_BYTES = 64 * 1024;
const OUTPUT_BUFFER_BYTES = 64 * 1024;
/** Frames larger than this go out in a buffer of their own rather than through the answer buffer. */
const LARGE_FRAME_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const PING_FRAME = Buffer.from([0x80 | Opcode.ping, 0]);

const kConnection = Symbol('serverConnection');
type SocketWithConnection = Socket & { [kConnection]?: ServerConnection };

const State = {
  open: 0,
  /** Our close frame is sent; the peer's is awaited (or was received: TCP is ending). */
  closing: 1,
  closed: 2,
} as const;
type State = (typeof State)[keyof typeof State];

/**
 * A message handler for modes other than echo (serve/modes.ts): what to do with one complete
 * message. `payload` may be a view of the shared read buffer, valid only during the call.
 * `connection.send` answers on the same connection; `sendFrame` sends another's.
 */
export type MessageHandler = (connection: ServerConnection, payload: Buffer, binary: boolean) => void;

export class ServerConnection extends FrameParser {
  socket: SocketWithConnection | undefined;
  /** Its place in its group's list (swap-removal keeps the list dense). */
  index = -1;
  state: State = State.open;
  /** The heartbeat pinged it and no pong has come since. */
  pingOutstanding = false;
  /** The mode's own state for this connection (broadcast: its room); echo and reply leave it. */
  slot: unknown = undefined;
  #closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly group: ServerConnections,
    socket: SocketWithConnection,
    deflate?: DeflateParams,
  ) {
    super(group.maxPayloadBytes);
    this.socket = socket;
    if (deflate) this.compression = new DeflateCodec(deflate, true, group.maxPayloadBytes);
  }

  protected override get parsesClientFrames(): boolean {
    return true;
  }

  /** Send one message (text unless `binary`); false when the connection is not open. */
  send(payload: Buffer, binary: boolean): boolean {
    if (this.state !== State.open) return false;
    this.#send(binary ? Opcode.binary : Opcode.text, payload, this.compression !== undefined);
    return true;
  }

  /**
   * Send a message already encoded as one unmasked frame (`frame`, shared by many connections:
   * broadcast), or, where this connection must encode its own (compression, or answers being
   * collected in its read), `payload` as send does.
   * Returns the bytes still unsent to this peer, or -1 when the connection is not open.
   */
  sendFrame(frame: Buffer, payload: Buffer, binary: boolean): number {
    if (this.state !== State.open) return -1;
    if (this.compression !== undefined || answering === this) this.send(payload, binary);
    else this.#write(frame);
    return this.unsentBytes;
  }

  /** Bytes handed to the socket and not yet sent. */
  get unsentBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Stop reading this peer (broadcast: while the relay to other processes is backed up). */
  pauseReading(): void {
    this.socket?.pause();
  }

  resumeReading(): void {
    this.socket?.resume();
  }

  /** Start the closing handshake from our side (shutdown: 1001; broadcast: 1008 for a slow subscriber). */
  close(code: number, reason: string): void {
    if (this.state !== State.open) return;
    const body = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    this.#send(Opcode.close, body, false);
    this.state = State.closing;
    this.#armCloseTimer();
  }

  /** The heartbeat: a peer that did not answer the last ping is cut; the others are pinged. */
  beat(): void {
    if (this.state !== State.open) return;
    if (this.pingOutstanding) return void this.socket?.destroy();
    this.pingOutstanding = true;
    this.socket?.write(PING_FRAME);
  }

  /** One read's bytes (a view of the shared read buffer): parse them, then send every answer at once. */
  handleRead(chunk: Buffer): void {
    // Answers in the buffer belong to the connection being read; one read inside another's (none
    // happens today) sends the outer one's first.
    const outer = answering;
    if (outer && outputLength > 0) outer.#flush();
    answering = this;
    try {
      this.receive(chunk);
      if (outputLength > 0) this.#flush();
    } finally {
      answering = outer;
      // Even after a throw, none of this connection's answers may reach another's socket.
      outputLength = 0;
    }
  }

  handleClose(): void {
    this.state = State.closed;
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    const socket = this.socket;
    if (socket) socket[kConnection] = undefined;
    this.socket = undefined;
    this.compression?.close();
    this.group.onClose?.(this);
    this.group.remove(this);
  }

  // --- what the frame codec found -----------------------------------------------------------------

  protected override messageReceived(payload: Buffer, binary: boolean): void {
    const counters = this.group.counters;
    counters.messagesIn++;
    counters.bytesIn += payload.length;
    if (this.state !== State.open) return;
    const onMessage = this.group.onMessage;
    if (onMessage) return onMessage(this, payload, binary);
    this.#send(binary ? Opcode.binary : Opcode.text, payload, this.compression !== undefined);
    counters.messagesOut++;
    counters.bytesOut += payload.length;
  }

  protected override pingReceived(payload: Buffer): void {
    if (this.state === State.open) this.#send(Opcode.pong, payload, false);
  }

  protected override pongReceived(): void {
    this.pingOutstanding = false;
  }

  /** The peer's close: echoed with its code and reason (ws does the same), or ends TCP if we closed first. */
  protected override closeReceived(code: number, reason: Buffer): void {
    if (this.state === State.open) {
      const body = code === 1005 ? EMPTY : Buffer.allocUnsafe(2 + reason.length);
      if (body.length > 0) {
        body.writeUInt16BE(code, 0);
        reason.copy(body, 2);
      }
      this.#send(Opcode.close, body, false);
      this.#flushBeforeEnd();
    }
    this.#endTcp();
  }

  /** The peer broke the protocol: our close frame with the code, then the TCP close (as ws). */
  protected override protocolError(code: number): void {
    if (this.state === State.open) {
      const body = Buffer.allocUnsafe(2);
      body.writeUInt16BE(code, 0);
      this.#send(Opcode.close, body, false);
      this.#flushBeforeEnd();
    }
    this.#endTcp();
  }

  #endTcp(): void {
    if (this.state === State.closed) return;
    this.state = State.closing;
    this.socket?.end();
    this.#armCloseTimer();
  }

  /**
   * Send one frame, compressed (as a message's only frame, with RSV1) or not. The codec is
   * synchronous, so the frame is queued before this returns, after every frame sent before it.
   */
  #send(opcode: number, payload: Buffer, compress: boolean): void {
    if (!compress) return this.#queue(opcode, payload);
    const compressed = this.compression!.deflate(payload);
    if (compressed) this.#queue(opcode | RSV1, compressed);
  }

  #armCloseTimer(): void {
    if (this.#closeTimer) return;
    this.#closeTimer = setTimeout(destroyConnection, CLOSE_TIMEOUT_MS, this);
    this.#closeTimer.unref();
  }

  // --- the answer buffer ---------------------------------------------------------------------------

  /**
   * Add one unmasked frame to this connection's answers. They collect in the process's answer
   * buffer while its read is handled (only the connection being read writes there), and go out
   * in one write at the end of it; a large frame flushes what is there and goes out on its own, and
   * so does a frame sent outside this connection's read (shutdown, another connection's message).
   */
  #queue(opcode: number, payload: Buffer): void {
    const length = payload.length;
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const frameLength = headerLength + length;
    if (answering !== this) {
      this.#write(encodeFrame(payload, opcode, false));
      return;
    }
    if (frameLength > LARGE_FRAME_BYTES) {
      if (outputLength > 0) this.#flush();
      this.#write(encodeFrame(payload, opcode, false));
      return;
    }
    if (outputLength + frameLength > output.length) this.#flush();
    writeHeader(output, outputLength, opcode, length, headerLength);
    payload.copy(output, outputLength + headerLength);
    outputLength += frameLength;
  }

  /** Everything queued goes out before the TCP end. */
  #flushBeforeEnd(): void {
    if (answering === this && outputLength > 0) this.#flush();
  }

  #flush(): void {
    const bytes = output.subarray(0, outputLength);
    outputLength = 0;
    // Written at once in most cases; if the socket kept the bytes to write later, the buffer is
    // now its own, and the process takes a new one.
    if (this.#write(bytes)) output = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
  }

  /** Write, and stop reading a peer that does not drain. Returns whether the socket kept `bytes` queued. */
  #write(bytes: Buffer): boolean {
    const socket = this.socket;
    if (!socket || socket.destroyed) return false;
    socket.write(bytes);
    const queued = socket.writableLength;
    if (queued > ECHO_HIGH_WATER_BYTES && !socket.isPaused()) {
      socket.pause();
      socket.once('drain', resumeReading);
    }
    return queued > 0;
  }
}

/**
 * A process's open ServerConnections: the one place they are counted, pinged and closed. A dense
 * list (each connection knows its index) rather than a Set: one slot per connection.
 */
export class ServerConnections {
  readonly #list: ServerConnection[] = [];

  constructor(
    readonly maxPayloadBytes: number,
    readonly counters: ServeCounters,
    /** Echo when undefined; serve's other modes hand messages to their handler. */
    readonly onMessage?: MessageHandler,
    /** Called once when a connection ends (its socket closed), before it leaves the list. */
    readonly onClose?: (connection: ServerConnection) => void,
  ) {}

  get size(): number {
    return this.#list.length;
  }

  /**
   * Take over an upgraded socket (the 101 answer already written): `head` is what came after the
   * request in the same packet. Plain TCP reads into the process's shared buffer; TLS (which
   * decrypts into buffers of its own) through 'data' events. `opened` is called before anything
   * is read (a mode sets the connection up there: broadcast puts it in its room).
   */
  open(socket: Socket, head: Buffer, deflate?: DeflateParams, opened?: (connection: ServerConnection) => void): ServerConnection {
    const connection = new ServerConnection(this, socket, deflate);
    connection.index = this.#list.push(connection) - 1;
    opened?.(connection);
    (socket as SocketWithConnection)[kConnection] = connection;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    // A half-open socket (TLS servers allow it) would not end its side when the peer ends.
    if (socket.allowHalfOpen) socket.on('end', onSocketEnd);
    socket.setTimeout(0);
    socket.setNoDelay(true);
    if (head.length > 0) connection.handleRead(head);
    if (readIntoSharedBuffer(socket)) {
      // Bytes the socket read before the switch, after `head`, in order. Node 20's HTTP parser read
      // the socket itself and left none; Node 26's leaves what arrived after the request in the
      // socket's readable buffer, often several chunks, and one read() returns only the first of
      // them: every chunk is taken, or the rest would never be answered.
      drainReadable(socket, connection);
    } else {
      socket.on('data', onSocketData);
    }
    socket.resume();
    return connection;
  }

  remove(connection: ServerConnection): void {
    const list = this.#list;
    const index = connection.index;
    if (index < 0 || list[index] !== connection) return;
    const last = list.pop()!;
    if (last !== connection) {
      list[index] = last;
      last.index = index;
    }
    connection.index = -1;
  }

  beat(): void {
    // A cut connection leaves the list on its close event, later: iterate over a copy.
    for (const connection of this.#list.slice()) connection.beat();
  }

  closeAll(code: number, reason: string): void {
    for (const connection of this.#list) connection.close(code, reason);
  }

  destroyAll(): void {
    for (const connection of this.#list.slice()) connection.socket?.destroy();
  }
}

// --- the process's buffers, and the handlers every socket shares ----------------------------------

/** The connection whose read is being handled: only it may add to the answer buffer. */
let answering: ServerConnection | undefined;
let output = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
let outputLength = 0;
const sharedReadBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

function writeHeader(into: Buffer, at: number, opcode: number, length: number, headerLength: number): void {
  into[at] = 0x80 | opcode;
  if (headerLength === 2) {
    into[at + 1] = length;
  } else if (headerLength === 4) {
    into[at + 1] = 126;
    into.writeUInt16BE(length, at + 2);
  } else {
    into[at + 1] = 127;
    into.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
    into.writeUInt32BE(length >>> 0, at + 6);
  }
}

function onSocketRead(this: SocketWithConnection, bytes: number, buffer: Uint8Array): boolean {
  this[kConnection]?.handleRead((buffer as Buffer).subarray(0, bytes));
  return true;
}
function onSocketData(this: SocketWithConnection, chunk: Buffer): void {
  this[kConnection]?.handleRead(chunk);
}
function onSocketClose(this: SocketWithConnection): void {
  this[kConnection]?.handleClose();
}
function onSocketEnd(this: Socket): void {
  this.end();
}
function onSocketError(this: Socket): void {
  // The socket closes itself after an error; 'close' cleans up.
}
function resumeReading(this: Socket): void {
  this.resume();
}
/** Hand `connection` every chunk the socket holds in its readable buffer. */
function drainReadable(socket: Socket, connection: Pick<ServerConnection, 'handleRead' | 'socket'>): void {
  while (socket.readableLength > 0 && connection.socket === socket) {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) break;
    connection.handleRead(chunk);
  }
}
function destroyConnection(connection: ServerConnection): void {
  connection.socket?.destroy();
}

/**
 * net reads into a buffer of the caller's when a socket is created with `onread`; a socket the
 * HTTP server accepted was not, so it is switched over the way the Socket constructor sets it up:
 * its (Node-internal) onread fields, found on a probe socket by their values, and the handle's
 * useUserBuffer. That is a fast path on Node internals: it is off until proveSharedReads has
 * passed in this process, and where it fails sockets read through 'data' events (correct, slower).
 */
const userBufferFields = findUserBufferFields();
let sharedReadsProven = false;
let sharedReadsProof: Promise<FastPathVerdict> | undefined;

/** Is the shared read buffer in use here now (proven, and not turned off)? */
export function sharedReadsInUse(): boolean {
  return sharedReadsProven;
}

let lastVerdict: FastPathVerdict = off('its self-test has not run in this process');
/** The shared read buffer's verdict in this process, for /healthz. */
export function sharedReadsVerdict(): FastPathVerdict {
  return lastVerdict;
}

export interface SharedReadsSelfTestOptions {
  /** Tests: how the switch takes bytes the socket read before it (default: every chunk, as open() does). */
  readonly takeEarly?: (socket: Socket, into: (chunk: Buffer) => void) => void;
  readonly timeoutMs?: number;
}

/**
 * Prove the shared read buffer in this process (once; again when a test passes options) and switch
 * it on if it passed. serve's worker processes await it before they take a connection.
 *
 * The round, on a socket pair of its own: the peer writes before the switch, so bytes wait in the
 * socket's readable buffer (in several chunks: what Node 26's HTTP server leaves at an upgrade);
 * the socket is switched as open() switches one; the peer writes more, the socket pauses (as serve
 * pauses a peer that does not drain) and must then read nothing, resumes, and the peer ends. Every
 * byte must arrive once, in order, and the end of the stream must still reach net.
 */
export function proveSharedReads(options?: SharedReadsSelfTestOptions): Promise<FastPathVerdict> {
  if (sharedReadsProof && !options) return sharedReadsProof;
  sharedReadsProof = selfTestSharedReads(options ?? {}).then((verdict) => {
    sharedReadsProven = verdict.on;
    lastVerdict = verdict;
    return verdict;
  });
  return sharedReadsProof;
}

async function selfTestSharedReads(options: SharedReadsSelfTestOptions): Promise<FastPathVerdict> {
  const forced = forcedOff('sharedReads');
  if (forced) return off(forced);
  if (!userBufferFields) return off("net's onread fields were not found on a probe socket");
  const timeoutMs = options.timeoutMs ?? 5000;
  const server = createServer({ noDelay: true });
  let client: Socket | undefined;
  let socket: SocketWithConnection | undefined;
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', noDelay: true });
    client.on('error', () => {});
    await once(client, 'connect');
    socket = (await accepted)[0] as SocketWithConnection;
    socket.on('error', () => {});
    const expected = randomBytes(300 * 1024);
    const got: Buffer[] = [];
    let gotBytes = 0;
    const collect = (chunk: Buffer) => {
      got.push(Buffer.from(chunk));
      gotBytes += chunk.length;
    };
    // Before the switch: three writes the socket reads into its readable buffer.
    let at = 0;
    for (const size of [700, 3000, 9000]) {
      client.write(expected.subarray(at, at + size));
      at += size;
      if (!(await until(() => socket!.readableLength >= at, timeoutMs))) return off('self-test: bytes written before the switch were never read');
    }
    socket[kConnection] = { handleRead: collect, socket } as unknown as ServerConnection;
    if (!readIntoSharedBuffer(socket, true)) return off("the accepted socket's handle has no useUserBuffer");
    if (options.takeEarly) options.takeEarly(socket, collect);
    else drainReadable(socket, socket[kConnection]!);
    socket.resume();
    let ended = false;
    socket.on('end', () => (ended = true));
    const half = 150 * 1024;
    client.write(expected.subarray(at, half));
    at = half;
    if (!(await until(() => gotBytes >= half, timeoutMs))) return off(`self-test: ${gotBytes} of ${half} bytes arrived through the shared buffer`);
    socket.pause();
    const heldAt = gotBytes;
    client.write(expected.subarray(at, at + 20_000));
    at += 20_000;
    await new Promise((resolve) => setTimeout(resolve, 30));
    if (gotBytes !== heldAt) return off('self-test: a paused socket went on reading into the shared buffer');
    socket.resume();
    client.end(expected.subarray(at));
    const done = await until(() => ended && gotBytes >= expected.length, timeoutMs);
    const bytes = Buffer.concat(got);
    if (!bytes.equals(expected)) return off(`self-test: ${bytes.length} of ${expected.length} bytes arrived through the shared buffer${bytes.length === expected.length ? ', changed' : ''}`);
    if (!done) return off('self-test: the end of the stream never reached net');
    return on();
  } catch (error) {
    return off(`self-test failed: ${(error as Error).message}`);
  } finally {
    if (socket) socket[kConnection] = undefined;
    client?.destroy();
    socket?.destroy();
    server.close();
  }
}


function findUserBufferFields(): { buffer: symbol; callback: symbol } | undefined {
  const buffer = Buffer.alloc(1);
  const callback = () => true;
  // The constructor takes `onread` as connect() does; @types/node declares it for connect() only.
  const probe = new NetSocket({ onread: { buffer, callback } } as ConstructorParameters<typeof NetSocket>[0]);
  let bufferField: symbol | undefined;
  let callbackField: symbol | undefined;
  for (const field of Object.getOwnPropertySymbols(probe)) {
    const value = (probe as unknown as Record<symbol, unknown>)[field];
    if (value === buffer) bufferField = field;
    else if (value === callback) callbackField = field;
  }
  probe.destroy();
  return bufferField && callbackField ? { buffer: bufferField, callback: callbackField } : undefined;
}

function readIntoSharedBuffer(socket: Socket, selfTest = false): boolean {
  if (!sharedReadsProven && !selfTest) return false;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } })._handle;
  if (!userBufferFields || typeof handle?.useUserBuffer !== 'function' || 'encrypted' in socket) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[userBufferFields.buffer] = sharedReadBuffer;
  fields[userBufferFields.callback] = onSocketRead;
  handle.useUserBuffer(sharedReadBuffer);
  return true;
}
