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
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The largest frame accepted from a server; a larger one is a protocol error (1002). */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;
/** After a server's close frame, how long its TCP close may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 2000;
const kConnection = Symbol('connection');
const HEADER_END = Buffer.from('\r\n\r\n');

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** What a connection reports to the engine that owns it. One object serves every connection. */
export interface ConnectionEvents {
  onOpen(connection: WsConnection): void;
  onRejected(connection: WsConnection, status: number): void;
  /** Failed before the upgrade: a socket error code, ETIMEDOUT, or a protocol reason. */
  onFailed(connection: WsConnection, reason: string): void;
  /** The (address, port) pair was taken (an earlier run's TIME_WAIT, a listener): try the next one. */
  onAddressInUse(connection: WsConnection, code: string): void;
  onMessage(connection: WsConnection, payload: Buffer, binary: boolean): void;
  /** Closed after it was open. `code` is the close code (1006 when the TCP connection just ended). */
  onClosed(connection: WsConnection, code: number, closedByUs: boolean): void;
}

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** The request line and headers up to (not including) Sec-WebSocket-Key, shared by all. */
  readonly requestHead: string;
  readonly connectTimeoutMs: number;
  /** Pipelining: sends made while handling one read go out in one write. */
  readonly batchWrites: boolean;
  /** wss://: TLS, with the server name to verify (undefined for an IP address) and whether to verify. */
  readonly tls?: { readonly servername: string | undefined; readonly rejectUnauthorized: boolean };
}

type State = 'connecting' | 'open' | 'closing' | 'closed';

export class WsConnection {
  state: State = 'connecting';
  socket: Socket | undefined;
  /**
   * performance.now() when the attempt began (its first TCP connect; a retry with another source
   * pair does not restart it): connect latency and the connect timeout both count from here.
   */
  startedAt = 0;
  /** The connection's own timer: the connect timeout, then the grace for the server's TCP close. */
  deadline: NodeJS.Timeout | undefined;
  /** How late the connect timeout fired (this process stalled), in ms. */
  timeoutLatenessMs = 0;
  /** Engine-owned fields, kept here so the engine needs no side map. */
  sentAt = 0;
  sent = 0;
  received = 0;
  /** Open loop: intended send times of messages not yet echoed, oldest first. */
  intended: number[] | undefined;
  /** The engine's pacing timer: never the same field as the connection's deadline. */
  paceTimer: NodeJS.Timeout | undefined;
  retries = 0;
  /** The engine's stall clock when the attempt began. */
  stalledAtStart = 0;
  #key = '';
  #head: Buffer | undefined;
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  /** Bytes the partial frame needs in all (0 while its header is incomplete). */
  #pendingNeeded = 0;
  /** Frames are read from the upgrade until a close frame or a protocol error. */
  #receiving = false;
  #fragments: Buffer[] | undefined;
  #fragmentBinary = false;
  #errorCode: string | undefined;
  #closeCode = 1006;
  #closedByUs = false;
  #explicitPort = false;
  batchWrites = false;

  constructor(readonly events: ConnectionEvents) {}

  open(target: ConnectTarget, localAddress?: string, localPort?: number): void {
    this.state = 'connecting';
    this.#errorCode = undefined;
    this.#head = undefined;
    this.#explicitPort = localPort !== undefined;
    this.batchWrites = target.batchWrites;
    this.#key = randomKey();
    const now = performance.now();
    if (this.retries === 0) this.startedAt = now;
    let socket: Socket;
    if (target.tls) {
      // TLS over a TCP socket of our own, so the source address and port stay ours to choose; it
      // decrypts into buffers of its own, so it takes 'data' events instead of onread.
      const tcp = connect({ host: target.host, port: target.port, localAddress, localPort, noDelay: true });
      (tcp as SocketWithConnection)[kConnection] = this;
      tcp.on('error', onSocketError);
      socket = tlsConnect({ socket: tcp, ...target.tls });
      socket.on('data', onSocketData);
    } else {
      socket = connect({
        host: target.host,
        port: target.port,
        localAddress,
        localPort,
        noDelay: true,
        onread: { buffer: sharedReadBuffer, callback: onSocketRead },
      });
    }
    (socket as SocketWithConnection)[kConnection] = this;
    this.socket = socket;
    // A plain timer, dropped at the upgrade: socket.setTimeout would keep a Timeout and a bound
    // function alive on every socket for its whole life.
    this.deadline = setTimeout(onConnectTimeout, Math.max(1, this.startedAt + target.connectTimeoutMs - now), this, this.startedAt + target.connectTimeoutMs);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.write(`${target.requestHead}Sec-WebSocket-Key: ${this.#key}\r\n\r\n`);
  }

  /** Bytes written but not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Send one masked frame. Returns false when the socket's buffer is over its high-water mark. */
  send(payload: Buffer, opcode: number): boolean {
    const socket = this.socket!;
    const length = payload.length;
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLength + 4 + length);
    frame[0] = 0x80 | opcode;
    if (length < 126) {
      frame[1] = 0x80 | length;
    } else if (length < 65_536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    const maskAt = headerLength;
    takeMask(frame, maskAt);
    const m0 = frame[maskAt]!, m1 = frame[maskAt + 1]!, m2 = frame[maskAt + 2]!, m3 = frame[maskAt + 3]!;
    const base = maskAt + 4;
    let i = 0;
    for (; i + 3 < length; i += 4) {
      frame[base + i] = payload[i]! ^ m0;
      frame[base + i + 1] = payload[i + 1]! ^ m1;
      frame[base + i + 2] = payload[i + 2]! ^ m2;
      frame[base + i + 3] = payload[i + 3]! ^ m3;
    }
    for (; i < length; i++) frame[base + i] = payload[i]! ^ frame[maskAt + (i & 3)]!;
    return socket.write(frame);
  }

  /** Start the closing handshake: our close frame, then wait for the server's and its FIN. */
  close(code = 1000): void {
    if (this.state === 'connecting') return this.destroy('aborted');
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.#closedByUs = true;
    const body = Buffer.allocUnsafe(2);
    body.writeUInt16BE(code, 0);
    this.send(body, Opcode.close);
  }

  destroy(reason?: string): void {
    if (reason && this.state === 'connecting') this.#errorCode = reason;
    if (this.state === 'open' || this.state === 'closing') this.#closedByUs = true;
    this.socket?.destroy();
  }

  // --- socket events, reached through the shared handlers below -----------------------------------

  /** `chunk` is a view of the shared read buffer: whatever must outlive this call is copied. */
  handleData(chunk: Buffer): void {
    if (this.state === 'connecting') {
      const head = this.#head ? Buffer.concat([this.#head, chunk]) : chunk;
      const end = head.indexOf(HEADER_END);
      if (end === -1) {
        this.#head = head === chunk ? Buffer.from(chunk) : head;
        return;
      }
      this.#head = undefined;
      if (!this.#upgrade(head.toString('latin1', 0, end))) return;
      if (end + 4 < head.length) this.#frames(head.subarray(end + 4));
      return;
    }
    this.#frames(chunk);
  }

  handleError(error: NodeJS.ErrnoException): void {
    this.#errorCode ??= error.code ?? 'ERROR';
  }

  handleClose(): void {
    const wasState = this.state;
    this.state = 'closed';
    const socket = this.socket!;
    (socket as SocketWithConnection)[kConnection] = undefined;
    this.socket = undefined;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    if (wasState === 'connecting') {
      const code = this.#errorCode ?? 'closed-before-upgrade';
      if (this.#explicitPort && (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL')) this.events.onAddressInUse(this, code);
      else this.events.onFailed(this, code);
      return;
    }
    if (wasState === 'closed') return;
    this.events.onClosed(this, this.#closeCode, this.#closedByUs);
  }

  #upgrade(head: string): boolean {
    const lineEnd = head.indexOf('\r\n');
    const statusLine = lineEnd === -1 ? head : head.slice(0, lineEnd);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    const socket = this.socket!;
    if (status !== 101) {
      this.state = 'closed';
      socket.destroy();
      if (Number.isInteger(status)) this.events.onRejected(this, status);
      else this.events.onFailed(this, 'bad-response');
      return false;
    }
    const accept = /\r\nsec-websocket-accept:\s*([^\r]+)/i.exec(head)?.[1]?.trim();
    const expected = createHash('sha1').update(this.#key + WS_GUID).digest('base64');
    if (accept !== expected) {
      this.state = 'closed';
      socket.destroy();
      this.events.onFailed(this, 'bad-accept-key');
      return false;
    }
    clearTimeout(this.deadline);
    this.deadline = undefined;
    this.#key = '';
    this.state = 'open';
    this.#receiving = true;
    this.events.onOpen(this);
    return true;
  }

  /**
   * Parse whole frames from what arrived. A partial frame is kept as copied chunks and joined once,
   * when the frame is complete (so a large frame costs one copy, not one per chunk).
   */
  #frames(chunk: Buffer): void {
    let buffer = chunk;
    if (this.#pending) {
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes < this.#pendingNeeded) {
        this.#pending.push(Buffer.from(chunk));
        return;
      }
      this.#pending.push(chunk);
      buffer = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = undefined;
    }
    let offset = 0;
    const available = buffer.length;
    let needed = 0;
    while (this.#receiving && available - offset >= 2) {
      const b0 = buffer[offset]!;
      const b1 = buffer[offset + 1]!;
      const opcode = b0 & 0x0f;
      let length = b1 & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        if (available - offset < 4) break;
        length = buffer.readUInt16BE(offset + 2);
        headerLength = 4;
      } else if (length === 127) {
        if (available - offset < 10) break;
        length = buffer.readUInt32BE(offset + 2) * 2 ** 32 + buffer.readUInt32BE(offset + 6);
        headerLength = 10;
      }
      // Server frames are unmasked, use no extension bits, and control frames are whole and short.
      const control = (opcode & 0x08) !== 0;
      if (b1 & 0x80 || b0 & 0x70 || (control && (!(b0 & 0x80) || length > 125)) || length > MAX_FRAME_BYTES) {
        return this.#protocolError();
      }
      if (available - offset < headerLength + length) {
        needed = headerLength + length;
        break;
      }
      const payload = buffer.subarray(offset + headerLength, offset + headerLength + length);
      offset += headerLength + length;
      this.#frame((b0 & 0x80) !== 0, opcode, payload);
    }
    if (offset < available && this.#receiving) {
      this.#pending = [Buffer.from(buffer.subarray(offset))];
      this.#pendingBytes = available - offset;
      this.#pendingNeeded = needed;
    }
  }

  #frame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.text:
      case Opcode.binary:
        if (this.#fragments) return this.#protocolError();
        if (fin) return this.events.onMessage(this, payload, opcode === Opcode.binary);
        this.#fragments = [Buffer.from(payload)];
        this.#fragmentBinary = opcode === Opcode.binary;
        return;
      case Opcode.continuation: {
        if (!this.#fragments) return this.#protocolError();
        this.#fragments.push(Buffer.from(payload));
        if (!fin) return;
        const whole = Buffer.concat(this.#fragments);
        this.#fragments = undefined;
        return this.events.onMessage(this, whole, this.#fragmentBinary);
      }
      case Opcode.ping:
        if (this.state === 'open') this.send(payload, Opcode.pong);
        return;
      case Opcode.pong:
        return;
      case Opcode.close: {
        this.#receiving = false;
        this.#closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (this.state === 'open') {
          // The server started closing: answer with its code; it closes TCP first.
          this.state = 'closing';
          const body = Buffer.allocUnsafe(2);
          body.writeUInt16BE(this.#closeCode === 1005 ? 1000 : this.#closeCode, 0);
          this.send(body, Opcode.close);
        }
        // The server closes TCP next; one that does not is cut after a grace period, so the
        // connection cannot keep the run from ending.
        this.socket?.end();
        this.deadline = setTimeout(destroyConnection, CLOSE_TIMEOUT_MS, this);
        return;
      }
      default:
        return this.#protocolError();
    }
  }

  #protocolError(): void {
    this.#receiving = false;
    this.#closeCode = 1002;
    this.socket?.destroy();
  }
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
    connection.handleData((buffer as Buffer).subarray(0, bytes));
    return true;
  }
  // Echoes that arrive together are answered together: one write system call for all.
  this.cork();
  connection.handleData((buffer as Buffer).subarray(0, bytes));
  this.uncork();
  return true;
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
function onSocketClose(this: SocketWithConnection): void {
  this[kConnection]?.handleClose();
}

// Masking keys come from a pooled random buffer, refilled 2048 frames at a time (as ws does).
const maskPool = Buffer.alloc(8192);
let maskOffset = maskPool.length;
function takeMask(into: Buffer, at: number): void {
  if (maskOffset === maskPool.length) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  maskPool.copy(into, at, maskOffset, maskOffset + 4);
  maskOffset += 4;
}

/** A Sec-WebSocket-Key: 16 random bytes from the same pool as the masks. */
function randomKey(): string {
  const key = Buffer.allocUnsafe(16);
  for (let at = 0; at < 16; at += 4) takeMask(key, at);
  return key.toString('base64');
}

/** TLS settings for a wss:// target (SNI only for host names). */
export function tlsFor(url: URL, insecure: boolean): ConnectTarget['tls'] {
  if (url.protocol !== 'wss:') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { servername: isIP(host) ? undefined : host, rejectUnauthorized: !insecure };
}

/** The request head shared by every connection of a run. */
export function buildRequestHead(url: URL, headers: Readonly<Record<string, string>>, subprotocol?: string): string {
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Version: 13',
  ];
  if (subprotocol) lines.push(`Sec-WebSocket-Protocol: ${subprotocol}`);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n';
}
