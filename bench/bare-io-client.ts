/**
 * The floor for blast-cpu-vs-tcpkali's closed loop: the least a Node.js client can spend per echoed
 * message here, doing nothing but the socket I/O that every closed-loop client must do.
 *
 *   node bare-io-client.js <url> <connections> <durationMs> <sizeBytes>
 *     opens the connections (a real handshake each), then on every connection sends one frame,
 *     and each time a whole echo (sizeBytes in a 2-byte-header server frame) has arrived, sends
 *     the same frame again, for durationMs; prints one JSON line and exits.
 *
 * Per message it makes one read and one write, through the cheapest paths Node has: reads land in
 * one shared buffer (net's `onread` option) and go straight from the handle's read callback to this
 * code, past net's stream; writes go to the handle (`writeBuffer`) past net's stream. These are
 * the paths blast's client uses (src/blast/handle-io.ts). It does no WebSocket work at all: no
 * header parsing (it counts bytes), one frame masked once and sent every time, no clock, no
 * histogram. So its CPU is Node's and libuv's cost per read and per write on this machine, and
 * no client that speaks WebSocket, times its messages and runs on Node can cost less.
 *
 * A bench program, not part of wsbench: it rests on process.binding('stream_wrap') without a
 * self-test, and stops with an error where that is missing.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

interface StreamWrap {
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}
interface Handle {
  writeBuffer(request: object, data: Uint8Array): number;
  onread: (this: Handle, arrayBuffer: unknown) => unknown;
  [owner: symbol]: unknown;
}

const [urlArg, connectionsArg, durationArg, sizeArg] = process.argv.slice(2);
const connections = Number(connectionsArg);
const durationMs = Number(durationArg);
const size = Number(sizeArg ?? 64);
if (!urlArg || !(connections > 0) || !(durationMs > 0) || !(size >= 0 && size < 126)) {
  process.stderr.write('usage: bare-io-client.js <ws://host:port/path> <connections> <durationMs> <sizeBytes under 126>\n');
  process.exit(2);
}
const url = new URL(urlArg);
const port = Number(url.port || 80);
const load = (process as unknown as { binding?: (name: string) => unknown }).binding;
const wrap = load?.call(process, 'stream_wrap') as StreamWrap | undefined;
if (!wrap || typeof wrap.WriteWrap !== 'function') {
  process.stderr.write("bare-io-client: process.binding('stream_wrap') is not available on this Node\n");
  process.exit(1);
}
const state = wrap.streamBaseState;
const kReadBytes = wrap.kReadBytesOrError;
const kAsync = wrap.kLastWriteWasAsync;

/** A server frame of one echo, and the client frame sent each time (masked once, with a fixed key). */
const ECHO_BYTES = 2 + size;
const frame = Buffer.alloc(6 + size);
frame[0] = 0x81;
frame[1] = 0x80 | size;
randomBytes(4).copy(frame, 2);
for (let i = 0; i < size; i++) frame[6 + i] = 0x78 ^ frame[2 + (i & 3)]!;

const readBuffer = Buffer.allocUnsafe(64 * 1024);
/** One request serves every write the kernel takes at once; a write that waits keeps its own. */
let spare = new wrap.WriteWrap();
let open = 0;
let failed = 0;
let messages = 0;
let ownerSymbol: symbol | undefined;
let netOnRead: Handle['onread'] | undefined;
/** Bytes of an echo not yet whole, per connection. */
const partial = new Map<Socket, number>();

function send(handle: Handle): void {
  const request = spare;
  if (handle.writeBuffer(request, frame) !== 0) return;
  if (state[kAsync] !== 0) {
    // Queued in libuv: the request is kept until the write completes; the frame never changes.
    Object.assign(request, { buffer: frame, oncomplete: () => {} });
    spare = new wrap!.WriteWrap();
  }
}

function onHandleRead(this: Handle, arrayBuffer: unknown): unknown {
  const bytes = state[kReadBytes]!;
  const socket = this[ownerSymbol!] as Socket;
  if (bytes <= 0) return netOnRead!.call(this, arrayBuffer);
  let pending = partial.get(socket)! + bytes;
  while (pending >= ECHO_BYTES) {
    pending -= ECHO_BYTES;
    messages++;
    send(this);
  }
  partial.set(socket, pending);
  return undefined;
}

/** After the 101: the handle's reads come here, and the first frame goes out. */
function upgraded(socket: Socket): void {
  const handle = (socket as unknown as { _handle: Handle })._handle;
  if (ownerSymbol === undefined) {
    ownerSymbol = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === 'owner_symbol');
    netOnRead = handle.onread;
    if (!ownerSymbol || handle[ownerSymbol] !== socket) throw new Error("bare-io-client: the handle's socket is not where expected");
  }
  partial.set(socket, 0);
  handle.onread = onHandleRead;
  open++;
  startWhenAllSettled();
}

/** Once every connection is open or has failed, each open one sends its first frame. */
function startWhenAllSettled(): void {
  if (open + failed === connections) for (const s of partial.keys()) send((s as unknown as { _handle: Handle })._handle);
}

for (let i = 0; i < connections; i++) {
  let head = '';
  const socket: Socket = connect({
    host: url.hostname,
    port,
    noDelay: true,
    onread: {
      buffer: readBuffer,
      callback: (bytes: number): boolean => {
        head += readBuffer.toString('latin1', 0, bytes);
        if (!head.includes('\r\n\r\n')) return true;
        if (!head.startsWith('HTTP/1.1 101')) {
          failed++;
          socket.destroy();
          startWhenAllSettled();
          return false;
        }
        upgraded(socket);
        return true;
      },
    },
  });
  socket.on('connect', () =>
    socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  socket.on('error', () => {
    if (partial.has(socket)) return;
    failed++;
    startWhenAllSettled();
  });
}

setTimeout(() => {
  process.stdout.write(JSON.stringify({ open, failed, totalMessages: messages }) + '\n');
  process.exit(0);
}, durationMs);
