/**
 * One client WebSocket connection, written for a load generator: RFC 6455 framing over a plain
 * net.Socket, and nothing else per connection.
 *
 * Why not the ws client: a ws WebSocket brings an http.ClientRequest, a Writable-stream Receiver and
 * a Sender with it, about 8.7 KB of memory and ~15 µs of CPU per echoed message measured here; a
 * load generator holding 50,000 of them on two cores must not cost more than the server it tests.
 * The ws *server* stays what we measure against.
 *
 * Handlers are shared functions that find their connection through a symbol on the socket, so a
 * connection allocates no closures. Reads go into one buffer shared by every socket of the process
 * (net's `onread`): no Buffer per read, and frames are parsed in place; only a partial frame is copied.
 *
 * --compress: the upgrade offers permessage-deflate (protocol/permessage-deflate.ts) and checks the
 * answer (a parameter not offered fails the attempt as 'bad-extension'); where it was negotiated,
 * text and binary messages are compressed before they are framed and compressed messages are
 * inflated by the frame parser, each in one synchronous call (with context takeover too: the codec
 * keeps the window as a dictionary), so a message's frame is written before send() returns and a
 * close sent after it can never overtake or drop it. Compressed traffic keeps the fast paths of
 * handle-io.ts: reads come in through them as before, and a compressed frame is written to the
 * handle like any other. Only the echo matcher's in-place shortcut (messageAt) is skipped for a
 * compressed frame: the echo is compared after inflation.
 */
import { createHash } from 'node:crypto';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { closeBody, CloseCode, encodeFrame, FrameParser, Opcode, takeRandom } from '../protocol/frame-codec.js';
import { acceptAnswer, DeflateCodec, ExtensionError, offerHeader, type DeflateOffer, type DeflateTally } from '../protocol/permessage-deflate.js';
import { directHandle, queuedBytes, readDirect, writeFrameDirect } from './handle-io.js';

export { Opcode };

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/**
 * How many unsent bytes make a connection full: it sends no more until they go (see `full`). It is
 * also every socket's writable high-water mark, so that net's 'drain' comes at the same count on
 * every Node: the default mark is 16 KiB on Node 20 and 64 KiB from Node 22.
 */
export const WRITE_HIGH_WATER_BYTES = 16 * 1024;
/** net's Duplex options take it; @types/node@20 does not declare it for connect(). */
const HIGH_WATER: object = { writableHighWaterMark: WRITE_HIGH_WATER_BYTES };
/** A TLSSocket hands net.Socket only `highWaterMark` (both directions): given too, so wss:// gets the same mark. */
const TLS_HIGH_WATER: object = { ...HIGH_WATER, highWaterMark: WRITE_HIGH_WATER_BYTES };
/** After a server's close frame, how long its TCP close may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 2000;
const kConnection = Symbol('connection');
const NO_SUBPROTOCOLS: readonly string[] = Object.freeze([]);
const HEADER_END = Buffer.from('\r\n\r\n');
/** An upgrade answer whose head is longer than this is not one (ws's client allows 16 KiB as well). */
const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
/** RSV1 in a frame's first byte: a compressed message (RFC 7692 6). */
const RSV1 = 0x40;

/** What a connection reports to the engine that owns it. One object serves every connection. */
export interface ConnectionEvents {
  onOpen(connection: WsConnection): void;
  onRejected(connection: WsConnection, status: number): void;
  /** Failed before the upgrade: a socket error code, ETIMEDOUT, or a protocol reason. */
  onFailed(connection: WsConnection, reason: string): void;
  /** The (address, port) pair was taken (an earlier run's TIME_WAIT, a listener): try the next one. */
  onAddressInUse(connection: WsConnection, code: string): void;
  onMessage(connection: WsConnection, payload: Buffer, binary: boolean): void;
  /**
   * Optional: a whole one-frame message at buffer[start, end), unchecked (FrameParser.messageAt).
   * Return true only if the engine recognised it as valid bytes it expected and took it; false
   * sends it on to onMessage, checked.
   */
  onMessageAt?(connection: WsConnection, buffer: Buffer, start: number, end: number, binary: boolean): boolean;
  /** Closed after it was open. `code` is the close code (1006 when the TCP connection just ended). */
  onClosed(connection: WsConnection, code: number, closedByUs: boolean): void;
  /** The socket's buffer drained after a write that filled it (flood refills it; a scenario goes on). */
  onDrain?(connection: WsConnection): void;
}

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** The request line and headers up to (not including) Sec-WebSocket-Key, shared by all. */
  readonly requestHead: string;
  /** The subprotocols the request asks for (Sec-WebSocket-Protocol); the server must pick one of them, or none if empty. */
  readonly subprotocols: readonly string[];
  readonly connectTimeoutMs: number;
  /** Pipelining: sends made while handling one read go out in one write. */
  readonly batchWrites: boolean;
  /** --compress: the permessage-deflate offer the request head carries, and where its bytes are counted. */
  readonly compression?: DeflateOffer;
  readonly compressionTally?: DeflateTally;
  /** Flood and scenarios: the engine goes on when a full socket drains (onDrain); no other run needs a 'drain' listener. */
  readonly refillOnDrain?: boolean;
  /** wss://: TLS, with the server name to verify (undefined for an IP address) and whether to verify. */
  readonly tls?: { readonly servername: string | undefined; readonly rejectUnauthorized: boolean };
}

type State = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * What a connection records when it ends after its upgrade (the engine counts it as dropped by that
 * code unless the client itself closed): the server's close code (1005 if its close frame had no
 * body), the code the client failed it with for a protocol error (1002, 1007, 1009: see
 * protocol/frame-codec.ts; the client sends that code in its own close frame), or 1006 when TCP
 * just ended without a close frame.
 */
export class WsConnection extends FrameParser {
  state: State = 'connecting';
  socket: Socket | undefined;
  /** The connection's own timer: the connect timeout, then the grace for the server's TCP close. */
  deadline: NodeJS.Timeout | undefined;
  /** Engine-owned fields, kept here so the engine needs no side map. */
  sentAt = 0;
  sent = 0;
  received = 0;
  /** The connection's number in the whole run ({{conn}}). */
  index = 0;
  /**
   * A process holds up to 50,000 of these, so what only the handshake needs, and what only some
   * traffic patterns or only the close need, lives in two side objects, made on first use (the
   * handshake's is dropped at the upgrade). The accessors below keep the engine's view the same:
   * plain fields.
   */
  #handshake: HandshakeState | undefined;
  #extras: SideState | undefined;

  /**
   * performance.now() when the attempt began (its first TCP connect; a retry with another source
   * pair does not restart it): connect latency and the connect timeout both count from here.
   */
  get startedAt(): number {
    return this.#handshake?.startedAt ?? 0;
  }
  set startedAt(value: number) {
    this.#handshakeState().startedAt = value;
  }
  /** How late the connect timeout fired (this process stalled), in ms. */
  get timeoutLatenessMs(): number {
    return this.#handshake?.timeoutLatenessMs ?? 0;
  }
  set timeoutLatenessMs(value: number) {
    this.#handshakeState().timeoutLatenessMs = value;
  }
  /** Source pairs found taken so far. */
  get retries(): number {
    return this.#handshake?.retries ?? 0;
  }
  set retries(value: number) {
    this.#handshakeState().retries = value;
  }
  /** The engine's stall clock when the attempt began. */
  get stalledAtStart(): number {
    return this.#handshake?.stalledAtStart ?? 0;
  }
  set stalledAtStart(value: number) {
    this.#handshakeState().stalledAtStart = value;
  }

  /** Subscribe: this connection publishes (its slot's role: a reconnect or replacement keeps it). */
  get publisher(): boolean {
    return this.#extras?.publisher ?? false;
  }
  set publisher(value: boolean) {
    if (value || this.#extras) this.#sideState().publisher = value;
  }
  /**
   * The traffic pattern's state for this connection (blast/patterns/): one opaque slot, owned by the
   * run's pattern (a scenario's progress, a protocol's state machine, an open loop's send times and
   * timer), undefined for a closed-loop echo of one message, which needs nothing beyond `sentAt`.
   */
  get pattern(): unknown {
    return this.#extras?.pattern;
  }
  set pattern(value: unknown) {
    if (value !== undefined || this.#extras) this.#sideState().pattern = value;
  }

  /** Pipelining: sends made while handling one read go out in one write (ConnectTarget.batchWrites). */
  get batchWrites(): boolean {
    return this.#extras?.batchWrites ?? false;
  }
  set batchWrites(value: boolean) {
    if (value || this.#extras) this.#sideState().batchWrites = value;
  }
  /**
   * Frames go through net's stream (socket.write), not straight to the handle (handle-io.ts):
   * for TLS, for pipelining (whose sends are corked into one write), and for flood and scenarios,
   * which go on when the stream's 'drain' says the socket took their bytes.
   */
  get streamWrites(): boolean {
    return this.#extras?.streamWrites ?? false;
  }
  set streamWrites(value: boolean) {
    if (value || this.#extras) this.#sideState().streamWrites = value;
  }
  /** The close code the connection ends with (see the class comment): 1006 until a close frame. */
  get #closeCode(): number {
    return this.#extras?.closeCode ?? 1006;
  }
  set #closeCode(value: number) {
    this.#sideState().closeCode = value;
  }
  /** The client closed (or cut) the connection itself: not a drop. */
  get #closedByUs(): boolean {
    return this.#extras?.closedByUs ?? false;
  }
  set #closedByUs(value: boolean) {
    this.#sideState().closedByUs = value;
  }

  #handshakeState(): HandshakeState {
    return (this.#handshake ??= new HandshakeState());
  }
  #sideState(): SideState {
    return (this.#extras ??= new SideState());
  }

  /** `maxMessageBytes`: the largest message taken from the server, inflated or not (--max-payload); larger fails with 1009. */
  constructor(readonly events: ConnectionEvents, maxMessageBytes?: number) {
    super(maxMessageBytes);
  }

  /** `requestHead`: this connection's own (with --data in the URL or a header), else the target's shared one. */
  open(target: ConnectTarget, localAddress?: string, localPort?: number, requestHead = target.requestHead): void {
    this.state = 'connecting';
    const handshake = this.#handshakeState();
    handshake.errorCode = undefined;
    handshake.head = undefined;
    handshake.explicitPort = localPort !== undefined;
    handshake.subprotocols = target.subprotocols;
    handshake.compression = target.compression;
    handshake.compressionTally = target.compressionTally;
    this.batchWrites = target.batchWrites;
    this.streamWrites = target.batchWrites || target.refillOnDrain === true || target.tls !== undefined;
    handshake.key = randomKey();
    const now = performance.now();
    if (this.retries === 0) this.startedAt = now;
    let socket: Socket;
    if (target.tls) {
      // TLS over a TCP socket of our own, so the source address and port stay ours to choose; it
      // decrypts into buffers of its own, so it takes 'data' events instead of onread.
      const tcp = connect({ host: target.host, port: target.port, localAddress, localPort, noDelay: true, ...HIGH_WATER });
      (tcp as SocketWithConnection)[kConnection] = this;
      tcp.on('error', onSocketError);
      socket = tlsConnect({ socket: tcp, ...target.tls, ...TLS_HIGH_WATER });
      socket.on('data', onSocketData);
    } else {
      socket = connect({
        host: target.host,
        port: target.port,
        localAddress,
        localPort,
        noDelay: true,
        ...HIGH_WATER,
        onread: { buffer: sharedReadBuffer, callback: onSocketRead },
      });
      // Past net's read callback when it can (handle-io.ts); onSocketRead otherwise.
      if (!target.batchWrites) readDirect(socket, onDirectRead);
    }
    (socket as SocketWithConnection)[kConnection] = this;
    this.socket = socket;
    // A plain timer, dropped at the upgrade: socket.setTimeout would keep a Timeout and a bound
    // function alive on every socket for its whole life.
    this.deadline = setTimeout(onConnectTimeout, Math.max(1, this.startedAt + target.connectTimeoutMs - now), this, this.startedAt + target.connectTimeoutMs);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    if (target.refillOnDrain) socket.on('drain', onSocketDrain);
    socket.write(`${requestHead}Sec-WebSocket-Key: ${handshake.key}\r\n\r\n`);
  }

  /**
   * Bytes written but not yet handed to the kernel. Through net's stream, its count: it covers the
   * bytes it has handed to libuv until they are written, and flood and scenarios wait for its
   * 'drain', which comes when that count falls, so counting libuv's queue as well would have them
   * wait for a 'drain' that never comes. Written directly, libuv's queue.
   */
  get writableLength(): number {
    const socket = this.socket;
    if (!socket) return 0;
    return this.streamWrites ? socket.writableLength : socket.writableLength + queuedBytes(socket);
  }

  /**
   * Should the connection send no more until its socket takes what it holds? Through net's stream,
   * exactly when net owes it a 'drain' (a write returned false): the one count that 'drain' answers
   * to, whatever this Node's default high-water mark. Written directly (nothing waits for a
   * 'drain': paced sends retry on their timer), when more than WRITE_HIGH_WATER_BYTES wait.
   */
  get full(): boolean {
    const socket = this.socket;
    if (!socket) return false;
    return this.streamWrites ? socket.writableNeedDrain : socket.writableLength + queuedBytes(socket) > WRITE_HIGH_WATER_BYTES;
  }

  /**
   * Send one masked frame: straight to the socket's handle when it can (handle-io.ts), else
   * through net's stream. Returns false when the stream's buffer is over its high-water mark.
   */
  send(payload: Buffer, opcode: number): boolean {
    const codec = this.compression;
    if (codec && (opcode === Opcode.text || opcode === Opcode.binary)) {
      // Synchronous: the frame goes out now, in order with whatever is sent after it.
      const compressed = codec.deflate(payload);
      return compressed !== undefined && this.#sendFrame(compressed, opcode | RSV1);
    }
    return this.#sendFrame(payload, opcode);
  }

  /** Did the server accept permessage-deflate? */
  get compressed(): boolean {
    return this.compression !== undefined;
  }

  #sendFrame(payload: Buffer, opcode: number): boolean {
    const socket = this.socket!;
    const handle = this.streamWrites ? undefined : directHandle(socket);
    if (!handle) return socket.write(encodeFrame(payload, opcode, true));
    writeFrameDirect(socket, handle, payload, opcode);
    return true;
  }

  /** Send frames already built and masked (writeFrameHeader): a flood's burst, in one write. */
  sendFrames(frames: Buffer): boolean {
    return this.socket!.write(frames);
  }

  /** Start the closing handshake: our close frame, then wait for the server's and its FIN. */
  close(code = 1000): void {
    if (this.state === 'connecting') return this.destroy('aborted');
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.#closedByUs = true;
    this.send(closeBody(code), Opcode.close);
  }

  destroy(reason?: string): void {
    // The first cause of a failed attempt is the one counted.
    if (reason && this.state === 'connecting') this.#handshakeState().errorCode ??= reason;
    if (this.state === 'open' || this.state === 'closing') this.#closedByUs = true;
    this.socket?.destroy();
  }

  // --- socket events, reached through the shared handlers below -----------------------------------

  /** chunk[0, end) came in; the chunk may be the shared read buffer: whatever must outlive this call is copied. */
  handleData(chunk: Buffer, end = chunk.length): void {
    if (this.state !== 'connecting') return this.receive(chunk, end);
    this.#handshakeData(end === chunk.length ? chunk : chunk.subarray(0, end));
  }

  /** Bytes before the upgrade: the server's HTTP answer, and maybe its first frames after it. */
  #handshakeData(chunk: Buffer): void {
    const handshake = this.#handshakeState();
    const head = handshake.head ? Buffer.concat([handshake.head, chunk]) : chunk;
    const end = head.indexOf(HEADER_END);
    if (end === -1) {
      // Not an HTTP response (or one without end): fail now rather than wait for the timeout.
      if (!couldBeStatusLine(head) || head.length > MAX_RESPONSE_HEAD_BYTES) {
        this.#fail('bad-response');
        return;
      }
      handshake.head = head === chunk ? Buffer.from(chunk) : head;
      return;
    }
    handshake.head = undefined;
    if (!this.#upgrade(head.toString('latin1', 0, end))) return;
    if (end + 4 < head.length) this.receive(head.subarray(end + 4));
  }

  handleError(error: NodeJS.ErrnoException): void {
    if (this.state === 'connecting') this.#handshakeState().errorCode ??= error.code ?? 'ERROR';
  }

  handleClose(): void {
    const wasState = this.state;
    this.state = 'closed';
    const socket = this.socket!;
    (socket as SocketWithConnection)[kConnection] = undefined;
    this.socket = undefined;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.compression?.close();
    if (wasState === 'connecting') {
      const handshake = this.#handshakeState();
      const code = handshake.errorCode ?? 'closed-before-upgrade';
      if (handshake.explicitPort && (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL')) this.events.onAddressInUse(this, code);
      else this.events.onFailed(this, code);
      return;
    }
    if (wasState === 'closed') return;
    this.events.onClosed(this, this.#closeCode, this.#closedByUs);
  }

  /**
   * The server's answer to the upgrade (RFC 6455 4.1, the client's checks): another status is a
   * rejection; a 101 must name the websocket upgrade, prove it read our key, and agree to the
   * subprotocol asked for (or to none) and to no extension but the permessage-deflate offered, within
   * what was offered; else the attempt fails with the reason.
   */
  #upgrade(head: string): boolean {
    const lines = head.split('\r\n');
    const status = Number(STATUS_LINE.exec(lines[0]!)?.[1]);
    if (!Number.isInteger(status)) return this.#fail('bad-response');
    if (status !== 101) {
      this.state = 'closed';
      this.socket!.destroy();
      this.events.onRejected(this, status);
      return false;
    }
    const headers = parseHeaders(lines);
    if (headers.upgrade?.toLowerCase() !== 'websocket') return this.#fail('bad-upgrade-header');
    if (!headers.connection?.toLowerCase().split(',').some((token) => token.trim() === 'upgrade')) return this.#fail('bad-upgrade-header');
    const handshake = this.#handshakeState();
    const expected = createHash('sha1').update(handshake.key + WS_GUID).digest('base64');
    if (headers['sec-websocket-accept']?.trim() !== expected) return this.#fail('bad-accept-key');
    const protocol = headers['sec-websocket-protocol']?.trim();
    const asked = handshake.subprotocols;
    if (asked.length > 0 ? protocol === undefined || !asked.includes(protocol) : protocol !== undefined) return this.#fail('bad-subprotocol');
    const extensions = headers['sec-websocket-extensions'];
    let deflate;
    if (handshake.compression) {
      try {
        deflate = acceptAnswer(extensions, handshake.compression);
      } catch (error) {
        if (error instanceof ExtensionError) return this.#fail('bad-extension');
        throw error;
      }
    } else if (extensions !== undefined) {
      return this.#fail('bad-extension');
    }
    clearTimeout(this.deadline);
    this.deadline = undefined;
    this.state = 'open';
    this.resetParser();
    if (deflate) this.compression = new DeflateCodec(deflate, false, this.maxMessageBytes, handshake.compressionTally);
    this.events.onOpen(this);
    this.#handshake = undefined;
    return true;
  }

  /** The attempt fails before the upgrade, with `reason`. */
  #fail(reason: string): false {
    this.#handshakeState().errorCode = reason;
    this.socket!.destroy();
    return false;
  }

  // --- what the frame parser found ---------------------------------------------------------------

  protected override messageReceived(payload: Buffer, binary: boolean): void {
    this.events.onMessage(this, payload, binary);
  }

  protected override messageAt(buffer: Buffer, start: number, end: number, binary: boolean): boolean {
    return this.events.onMessageAt?.(this, buffer, start, end, binary) ?? false;
  }

  protected override pingReceived(payload: Buffer): void {
    if (this.state === 'open') this.send(payload, Opcode.pong);
  }

  /** The server closed: record its code and answer with it (none for 1005); it closes TCP first. */
  protected override closeReceived(code: number): void {
    this.#closeCode = code;
    if (this.state === 'open') {
      this.state = 'closing';
      this.send(code === CloseCode.noStatus ? Buffer.alloc(0) : closeBody(code), Opcode.close);
    }
    this.#awaitTcpClose();
  }

  /**
   * The server broke the protocol: fail the connection (RFC 6455 7.1.7) with our close frame
   * carrying the code, which is also what the connection records (a drop by that code).
   */
  protected override protocolError(code: number): void {
    this.#closeCode = code;
    if (this.state === 'open') {
      this.state = 'closing';
      this.send(closeBody(code), Opcode.close);
    }
    this.#awaitTcpClose();
  }

  /**
   * The server closes TCP next; one that does not is cut after a grace period, so the connection
   * cannot keep the run from ending.
   */
  #awaitTcpClose(): void {
    this.socket?.end();
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = setTimeout(destroyConnection, CLOSE_TIMEOUT_MS, this);
  }
}

/** What a connection needs only until its upgrade. */
class HandshakeState {
  startedAt = 0;
  timeoutLatenessMs = 0;
  retries = 0;
  stalledAtStart = 0;
  key = '';
  head: Buffer | undefined = undefined;
  subprotocols: readonly string[] = NO_SUBPROTOCOLS;
  compression: DeflateOffer | undefined = undefined;
  compressionTally: DeflateTally | undefined = undefined;
  errorCode: string | undefined = undefined;
  explicitPort = false;
}

/** What only some traffic patterns, or only the close, keep per connection (see the accessors of WsConnection). */
class SideState {
  batchWrites = false;
  streamWrites = false;
  closeCode = 1006;
  closedByUs = false;
  publisher = false;
  pattern: unknown = undefined;
}

type SocketWithConnection = Socket & { [kConnection]?: WsConnection };

function onSocketData(this: SocketWithConnection, chunk: Buffer): void {
  this[kConnection]?.handleData(chunk);
}

/** Every socket reads into this; net calls `onSocketRead` with the socket as `this`. */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);
function onSocketRead(this: SocketWithConnection, bytes: number, buffer: Uint8Array): boolean {
  const connection = this[kConnection];
  if (!connection) return true;
  if (!connection.batchWrites) {
    connection.handleData(buffer as Buffer, bytes);
    return true;
  }
  // Echoes that arrive together are answered together: one write system call for all.
  this.cork();
  connection.handleData(buffer as Buffer, bytes);
  this.uncork();
  return true;
}
/** A read of a plain TCP socket, from handle-io.ts: sharedReadBuffer[0, bytes). */
function onDirectRead(socket: Socket, bytes: number): void {
  (socket as SocketWithConnection)[kConnection]?.handleData(sharedReadBuffer, bytes);
}
function onSocketError(this: SocketWithConnection, error: Error): void {
  this[kConnection]?.handleError(error);
}
function destroyConnection(connection: WsConnection): void {
  connection.deadline = undefined;
  connection.destroy();
}

/**
 * Timers run before the poll phase of a loop turn, so a process that stalled could find its
 * deadline passed while the server's answer sits unread in the socket. The verdict waits for the
 * end of this turn (setImmediate runs after the poll): an answer that arrived in time still counts.
 */
function onConnectTimeout(connection: WsConnection, dueAt: number): void {
  connection.deadline = undefined;
  if (connection.state !== 'connecting') return;
  connection.timeoutLatenessMs = performance.now() - dueAt;
  setImmediate(timeOutIfStillConnecting, connection);
}
function timeOutIfStillConnecting(connection: WsConnection): void {
  if (connection.state === 'connecting' && connection.deadline === undefined) connection.destroy('ETIMEDOUT');
}
function onSocketDrain(this: SocketWithConnection): void {
  const connection = this[kConnection];
  if (connection?.state === 'open') connection.events.onDrain?.(connection);
}
function onSocketClose(this: SocketWithConnection): void {
  this[kConnection]?.handleClose();
}

/** A Sec-WebSocket-Key: 16 random bytes from the same pool as the masks. */
function randomKey(): string {
  const key = Buffer.allocUnsafe(16);
  for (let at = 0; at < 16; at += 4) takeRandom(key, at);
  return key.toString('base64');
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |$)/;
const HTTP_PREFIX = 'HTTP/1.';
/** Could these first bytes of an answer still become an HTTP/1.x status line? */
function couldBeStatusLine(head: Buffer): boolean {
  const prefix = Math.min(head.length, HTTP_PREFIX.length);
  return head.toString('latin1', 0, prefix) === HTTP_PREFIX.slice(0, prefix);
}

/** Header fields by lower-case name; a repeated field is joined with ', ' (RFC 9110 5.3). */
function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/** TLS settings for a wss:// target (SNI only for host names). */
export function tlsFor(url: URL, insecure: boolean): ConnectTarget['tls'] {
  if (url.protocol !== 'wss:') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { servername: isIP(host) ? undefined : host, rejectUnauthorized: !insecure };
}

/** The subprotocols a run asks for, from --subprotocol and any -H Sec-WebSocket-Protocol: a comma-separated list each. */
export function askedSubprotocols(headers: Readonly<Record<string, string>>, subprotocol?: string): string[] {
  const lists = Object.entries(headers).flatMap(([name, value]) => (name.toLowerCase() === 'sec-websocket-protocol' ? [value] : []));
  if (subprotocol) lists.push(subprotocol);
  return lists.flatMap((list) => list.split(',')).map((name) => name.trim()).filter(Boolean);
}

/** A URL's user or password as the user meant it: percent-decoded, or as typed where that is no valid escape (100%). */
function decodeOrRaw(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The request head shared by every connection of a run. */
export function buildRequestHead(url: URL, headers: Readonly<Record<string, string>>, subprotocol?: string, compression?: DeflateOffer): string {
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Version: 13',
  ];
  if (subprotocol) lines.push(`Sec-WebSocket-Protocol: ${subprotocol}`);
  if (compression) lines.push(`Sec-WebSocket-Extensions: ${offerHeader(compression)}`);
  // Credentials in the URL go as HTTP Basic authentication, as ws's client and curl send them,
  // unless an Authorization header is given.
  const hasAuthorization = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
  if ((url.username !== '' || url.password !== '') && !hasAuthorization) {
    const credentials = `${decodeOrRaw(url.username)}:${decodeOrRaw(url.password)}`;
    lines.push(`Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n';
}
